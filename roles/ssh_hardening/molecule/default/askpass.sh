#!/bin/sh
# SSH_ASKPASS helper: answers every prompt with the lab password prepare.yml gives the operator account.
echo correct-horse-lab
