"""Each role's surface agrees with itself: defaults/main.yml matches meta/argument_specs.yml, and the README's
variables table is what aar-doc renders from the spec today (`make docs`)."""

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ROLES = sorted(path.parent.parent for path in (ROOT / "roles").glob("*/meta/argument_specs.yml"))
AAR_DOC = Path(sys.executable).parent / "aar-doc"

# Python types a value of each argument-spec type may load as from YAML. bool is checked before int because
# True is an int in Python; `raw` accepts anything.
SPEC_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "path": (str,),
    "int": (int,),
    "float": (float, int),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
}


def same_value(left: Any, right: Any) -> bool:
    """Equal and of the same YAML type all the way down (`==` alone calls true equal to 1 and 1.0 equal to 1)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(same_value(left[key], right[key]) for key in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(same_value, left, right))
    return bool(left == right)


def type_errors(name: str, value: Any, option: dict[str, Any]) -> list[str]:
    """Why `value` does not fit the option's type, elements, suboptions and choices (empty when it does)."""
    spec_type = option.get("type", "str")
    if spec_type == "raw":
        return []
    if spec_type not in SPEC_TYPES:
        return [
            f"{name}: the spec's type {spec_type!r} is not one this check knows ({', '.join(SPEC_TYPES)})"
        ]
    if isinstance(value, bool) and spec_type != "bool" or not isinstance(value, SPEC_TYPES[spec_type]):
        return [f"{name}: the value {value!r} is of type {type(value).__name__}, the spec says {spec_type}"]
    if spec_type == "list":
        element = {key: option[key] for key in ("options", "choices") if key in option}
        element["type"] = option.get("elements", "raw")
        return [
            error
            for index, item in enumerate(value)
            for error in type_errors(f"{name}[{index}]", item, element)
        ]
    if spec_type == "dict" and "options" in option:
        suboptions = option["options"]
        errors = [f"{name}.{key}: not an option of the spec" for key in value if key not in suboptions]
        errors += [
            f"{name}.{key}: required by the spec, missing"
            for key, suboption in suboptions.items()
            if suboption.get("required") and key not in value
        ]
        return errors + [
            error
            for key, item in value.items()
            if key in suboptions
            for error in type_errors(f"{name}.{key}", item, suboptions[key])
        ]
    if "choices" in option and value not in option["choices"]:
        return [f"{name}: {value!r} is not one of the spec's choices {option['choices']}"]
    return []


def spec_disagreements(defaults: dict[str, Any], options: dict[str, dict[str, Any]]) -> list[str]:
    """Where defaults/main.yml and the main entry point's options disagree; role-internal `__` names excluded."""
    public = {name: value for name, value in defaults.items() if not name.startswith("__")}
    errors = [
        f"{name}: in defaults/main.yml, missing from meta/argument_specs.yml"
        for name in public
        if name not in options
    ]
    for name, option in options.items():
        if name not in public:
            if "default" in option:
                errors.append(f"{name}: the spec gives a default, defaults/main.yml does not set it")
            elif not option.get("required"):
                errors.append(f"{name}: no value in defaults/main.yml and not `required: true` in the spec")
            continue
        if "default" not in option:
            errors.append(f"{name}: set in defaults/main.yml, the spec gives no default")
        elif not same_value(public[name], option["default"]):
            errors.append(
                f"{name}: defaults/main.yml has {public[name]!r}, the spec's default is {option['default']!r}"
            )
        errors += type_errors(name, public[name], option)
    return errors


def role_surface(role: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """A role's defaults/main.yml and the options of its spec's main entry point."""
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}
    spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
    return defaults, spec["argument_specs"]["main"].get("options", {})


def rendered_readme(role: Path, readme: Path) -> str:
    """`readme` with its variables section regenerated for `role`, exactly as `make docs` does it."""
    subprocess.run(
        [AAR_DOC, "--output-file", readme, role, "markdown"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return readme.read_text()


def generated_section(readme: str) -> str:
    """The part of a README between aar-doc's markers."""
    return readme.split("<!-- BEGIN_ANSIBLE_DOCS -->\n", 1)[1].split("<!-- END_ANSIBLE_DOCS -->\n", 1)[0]


def test_every_role_has_an_argument_spec() -> None:
    assert [role.name for role in ROLES] == sorted(
        path.name for path in (ROOT / "roles").iterdir() if path.is_dir()
    )


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.name)
def test_defaults_and_argument_spec_agree(role: Path) -> None:
    assert spec_disagreements(*role_surface(role)) == []


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.name)
def test_readme_variables_are_what_make_docs_generates(role: Path, tmp_path: Path) -> None:
    committed = (role / "README.md").read_text()
    shutil.copy(role / "README.md", tmp_path / "README.md")
    assert rendered_readme(role, tmp_path / "README.md") == committed, (
        f"roles/{role.name}/README.md: run `make docs`"
    )


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.name)
def test_readme_variables_list_every_option_of_the_spec(role: Path) -> None:
    section = generated_section((role / "README.md").read_text())
    _, options = role_surface(role)
    assert [name for name in options if f"| `{name}` |" not in section] == []


@pytest.fixture
def openssl_copy(tmp_path: Path) -> Path:
    """A copy of the openssl role (small spec) that a test may change."""
    return Path(shutil.copytree(ROOT / "roles" / "openssl", tmp_path / "openssl"))


def test_a_changed_spec_makes_the_committed_readme_stale(openssl_copy: Path) -> None:
    spec = openssl_copy / "meta" / "argument_specs.yml"
    spec.write_text(spec.read_text().replace('default: "3.0.0"', 'default: "3.5.0"'))
    rendered = rendered_readme(openssl_copy, openssl_copy / "README.md")
    assert rendered != (ROOT / "roles" / "openssl" / "README.md").read_text()
    assert "| `openssl_min_version` | str | `3.5.0` |" in generated_section(rendered)


def test_a_hand_edit_inside_the_markers_is_overwritten(openssl_copy: Path) -> None:
    readme = openssl_copy / "README.md"
    original = readme.read_text()
    edited = original.replace(
        "| `openssl_security_level` | int | `2` |", "| `openssl_security_level` | int | `1` |"
    )
    assert edited != original
    readme.write_text(edited)
    assert rendered_readme(openssl_copy, readme) == (ROOT / "roles" / "openssl" / "README.md").read_text()


def test_a_readme_without_markers_is_refused(openssl_copy: Path) -> None:
    readme = openssl_copy / "README.md"
    readme.write_text(readme.read_text().split("<!-- BEGIN_ANSIBLE_DOCS -->")[0])
    with pytest.raises(subprocess.CalledProcessError) as refused:
        rendered_readme(openssl_copy, readme)
    assert "Could not find <!-- BEGIN_ANSIBLE_DOCS -->" in refused.value.stdout


GOOD_SPEC = {
    "demo_enabled": {"type": "bool", "default": True},
    "demo_port": {"type": "int", "default": 22},
    "demo_mode": {"type": "str", "default": "strict", "choices": ["strict", "lax"]},
    "demo_groups": {"type": "list", "elements": "str", "default": ["sshusers"]},
    "demo_rules": {
        "type": "list",
        "elements": "dict",
        "default": [{"port": 22, "proto": "tcp"}],
        "options": {
            "port": {"type": "int", "required": True},
            "proto": {"type": "str", "choices": ["tcp", "udp"]},
        },
    },
    "demo_tenant": {"type": "str", "required": True},
}
GOOD_DEFAULTS = {
    "demo_enabled": True,
    "demo_port": 22,
    "demo_mode": "strict",
    "demo_groups": ["sshusers"],
    "demo_rules": [{"port": 22, "proto": "tcp"}],
    "__demo_internal": "not part of the surface",
}


def write_role(root: Path, defaults: dict[str, Any], options: dict[str, Any]) -> Path:
    """A role on disk with just the two files the check reads."""
    (root / "defaults").mkdir(parents=True)
    (root / "meta").mkdir()
    (root / "defaults" / "main.yml").write_text(yaml.safe_dump(defaults, sort_keys=False))
    spec = {"argument_specs": {"main": {"short_description": "demo", "options": options}}}
    (root / "meta" / "argument_specs.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return root


def test_a_role_whose_defaults_and_spec_agree_passes(tmp_path: Path) -> None:
    assert spec_disagreements(*role_surface(write_role(tmp_path, GOOD_DEFAULTS, GOOD_SPEC))) == []


def with_option(name: str, **changes: Any) -> dict[str, Any]:
    """GOOD_SPEC with one option changed (a key set to None is dropped)."""
    option = {**GOOD_SPEC[name], **changes}
    return {**GOOD_SPEC, name: {key: value for key, value in option.items() if value is not None}}


def bad_default(name: str, value: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Defaults and spec that agree on a value the spec's type, choices or suboptions do not allow."""
    return {**GOOD_DEFAULTS, name: value}, with_option(name, default=value)


WITHOUT_MODE = {name: value for name, value in GOOD_DEFAULTS.items() if name != "demo_mode"}


@pytest.mark.parametrize(
    ("defaults", "options", "error"),
    [
        pytest.param(
            GOOD_DEFAULTS,
            with_option("demo_port", default=2222),
            "demo_port: defaults/main.yml has 22, the spec's default is 2222",
            id="other-default",
        ),
        pytest.param(
            GOOD_DEFAULTS,
            with_option("demo_enabled", default="true"),
            "the spec's default is 'true'",
            id="bool-spelled-as-string",
        ),
        pytest.param(
            GOOD_DEFAULTS,
            with_option("demo_port", default=22.0),
            "demo_port: defaults/main.yml has 22",
            id="float-for-int",
        ),
        pytest.param(
            GOOD_DEFAULTS,
            with_option("demo_groups", default=["sshusers", "admin"]),
            "demo_groups: defaults/main.yml has",
            id="longer-list",
        ),
        pytest.param(
            GOOD_DEFAULTS,
            with_option("demo_port", default=None),
            "demo_port: set in defaults/main.yml, the spec gives no default",
            id="spec-without-default",
        ),
        pytest.param(
            {**GOOD_DEFAULTS, "demo_typo": 1},
            GOOD_SPEC,
            "demo_typo: in defaults/main.yml, missing from meta/argument_specs.yml",
            id="undeclared",
        ),
        pytest.param(
            WITHOUT_MODE,
            GOOD_SPEC,
            "demo_mode: the spec gives a default, defaults/main.yml does not",
            id="spec-default-not-set",
        ),
        pytest.param(
            GOOD_DEFAULTS,
            with_option("demo_tenant", required=None),
            "demo_tenant: no value in defaults/main.yml and not `required: true`",
            id="optional-unset",
        ),
        pytest.param(
            GOOD_DEFAULTS,
            with_option("demo_port", type="integer"),
            "demo_port: the spec's type 'integer' is not one",
            id="unknown-spec-type",
        ),
        pytest.param(
            *bad_default("demo_port", "22"), "demo_port: the value '22' is of type str", id="str-for-int"
        ),
        pytest.param(
            *bad_default("demo_port", True), "demo_port: the value True is of type bool", id="bool-for-int"
        ),
        pytest.param(*bad_default("demo_mode", "off"), "demo_mode: 'off' is not one of", id="not-a-choice"),
        pytest.param(
            *bad_default("demo_groups", [1]), "demo_groups[0]: the value 1 is of type int", id="element-type"
        ),
        pytest.param(
            *bad_default("demo_rules", [{"port": 22, "proto": "icmp"}]),
            "demo_rules[0].proto: 'icmp' is not one of",
            id="suboption-choice",
        ),
        pytest.param(
            *bad_default("demo_rules", [{"port": 22, "protocol": "tcp"}]),
            "demo_rules[0].protocol: not an option of the spec",
            id="unknown-suboption",
        ),
        pytest.param(
            *bad_default("demo_rules", [{"proto": "tcp"}]),
            "demo_rules[0].port: required by the spec, missing",
            id="missing-required-suboption",
        ),
    ],
)
def test_a_disagreement_between_defaults_and_spec_is_named(
    tmp_path: Path, defaults: dict[str, Any], options: dict[str, Any], error: str
) -> None:
    errors = spec_disagreements(*role_surface(write_role(tmp_path, defaults, options)))
    assert any(error in found for found in errors), errors
