# Shared by the e2e scripts: pass/fail counters and checks, and mpirun as root with more ranks
# than cores. Source it after `cd` into the work directory.
pass=0; fail=0
ok()  { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*" >&2; }
has() { grep -qF -- "$1" "$2" && ok || { bad "'$1' not in $2"; cat "$2" >&2; }; }
# The whole test cannot run here: exit 77, which CMakeLists.txt declares as ctest's
# SKIP_RETURN_CODE, so ctest reports it as skipped rather than passed.
skip_all() { echo "SKIP: $*"; exit 77; }
# Summary line and exit status: fails on any failure, and when no check ran at all.
finish() {
  echo "$1: $pass passed, $fail failed"
  [ $((pass + fail)) -gt 0 ] || { echo "FAIL: $1 ran no check" >&2; exit 1; }
  [ $fail -eq 0 ]
}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
