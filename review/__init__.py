"""What a reviewer approves, above `infra/` and `policy/`: the program evaluated offline under mocks, the
policy pack run on it, the reviewer's report and preview (`secure-tenant-preview`), and independent scans."""
