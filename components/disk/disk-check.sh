#!/usr/bin/env bash
# shellcheck shell=bash
# `testbed disk-check` (scripts/commands/diskCheck.ts): the fio job (fio.sh, which precedes this file in the
# program) at one directory, on its own. stdout is fio's: the stop line, then its JSON.

# shellcheck disable=SC2154 # check_path comes from the program's header (fioScript in fio.ts)
step_create() { fio_job "$check_path"; }
