# shellcheck shell=bash
# Sourced by scripts/sweep.sh and scripts/run_one.sh: the run folders as cifar-exp sees them.
#
#   list_runs BIN DIR
#
# Prints one line per run folder in DIR (a run folder or a folder of run folders), as
# `BIN compare --runs --format csv DIR` lists it: FOLDER<TAB>NAME<TAB>SEED<TAB>STATUS, status
# being completed, running, interrupted, crashed, failed or incomplete. The columns are found by
# the names in the listing's header, not by their position; the folder path is not quoted in the
# listing, so commas in it are taken as part of the path. Read it with
#   while IFS=$'\t' read -r dir name seed status; do ...; done
# Fails (status of cifar-exp, or 1 for a listing without those columns) with cifar-exp's error on
# stderr.
list_runs() {
  local listing
  listing=$("$1" compare --runs --format csv "$2") || return
  printf '%s\n' "$listing" | awk -F, '
    function field(name, at) {
      at = col[name]
      return $(at > col["dir"] ? at + extra : at)
    }
    NR == 1 {
      for (i = 1; i <= NF; i++) col[$i] = i
      columns = NF
      if (!("dir" in col && "name" in col && "seed" in col && "status" in col)) {
        print "list_runs: unexpected compare --runs header: " $0 > "/dev/stderr"
        exit 1
      }
      next
    }
    NF > 0 {
      extra = NF - columns  # commas inside the folder path
      dir = $(col["dir"])
      for (i = 1; i <= extra; i++) dir = dir "," $(col["dir"] + i)
      printf "%s\t%s\t%s\t%s\n", dir, field("name"), field("seed"), field("status")
    }'
}
