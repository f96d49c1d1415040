# Shared by the e2e scripts: pass/fail counters and checks, and mpirun as root with more ranks
# than cores. Source it after `cd` into the work directory.
pass=0; fail=0
ok()  { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*" >&2; }
has() { grep -qF -- "$1" "$2" && ok || { bad "'$1' not in $2"; cat "$2" >&2; }; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
