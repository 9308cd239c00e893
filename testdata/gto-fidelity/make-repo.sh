#!/usr/bin/env bash
# Build a GTO registry whose tags sit in the corners where GTO's reading is
# not the obvious one (see README.md beside this file for what GTO answers
# and why). Only the git CLI is used; every commit and tag time is pinned.
# Usage: make-repo.sh DIR (the directory is recreated).
set -euo pipefail
DIR=${1:?usage: make-repo.sh DIR}
rm -rf "$DIR"
git init -q -b main "$DIR"
cd "$DIR"
git config user.name "Fidelity Tester"
git config user.email "tester@example.com"
export GIT_AUTHOR_NAME="Fidelity Tester" GIT_AUTHOR_EMAIL="tester@example.com"
export GIT_COMMITTER_NAME="Fidelity Tester" GIT_COMMITTER_EMAIL="tester@example.com"

commit() { # commit FILE CONTENT DATE MESSAGE
  printf '%s' "$2" > "$1"
  git add "$1"
  GIT_AUTHOR_DATE="$3" GIT_COMMITTER_DATE="$3" git commit -q -m "$4"
  git rev-parse HEAD
}
atag() { # atag NAME TARGET DATE MESSAGE
  GIT_COMMITTER_DATE="$3" git tag -a --cleanup=verbatim -m "$4" "$1" "$2"
}
rawtag() { # rawtag REF TARGET TAGGER MESSAGE: a tag object written as given
  local sha
  sha=$(printf 'object %s\ntype commit\ntag %s\ntagger %s\n\n%s' "$2" "$1" "$3" "$4" |
    git hash-object -t tag -w --literally --stdin)
  git update-ref "refs/tags/$1" "$sha"
}

C1=$(commit model.txt "one" "2023-01-01T10:00:00+0000" "first model")
C2=$(commit model.txt "two" "2023-01-02T10:00:00+0000" "second model")
C3=$(commit model.txt "three" "2023-01-03T10:00:00+0000" "third model")
# HEAD allows dev and staging; the working tree (uncommitted) adds prod.
printf 'stages: [dev, staging]\n' > .gto
printf 'annotated:\n  type: model\n  description: "Zo\xc3\xab'"'"'s model"\n  custom:\n    zeta: 1\n    alpha: 1.0\n    list: [1e3, 0.00001]\n' > artifacts.yaml
git add .gto artifacts.yaml
GIT_AUTHOR_DATE="2023-03-01T10:00:00+0000" GIT_COMMITTER_DATE="2023-03-01T10:00:00+0000" \
  git commit -q -m "annotate and configure"
printf 'stages: [dev, staging, prod]\n' > .gto

# 1. counters: #0 and leading zeros are GTO counters; the next is 8
atag 'cnt@v1.0.0#0'  "$C1" "2023-02-01T10:00:00+0000" "counter zero"
atag 'cnt#prod#007'  "$C1" "2023-02-02T10:00:00+0000" "counter seven"
git tag 'cnt@v9.9.9' "$C1"   # lightweight: ignored, and its (no) counter too

# 3. non-ASCII tagger and message, printed escaped
GIT_COMMITTER_NAME="Zoë Ünïcode" GIT_COMMITTER_EMAIL="zoe@example.com" \
  atag 'uni@v1.0.0' "$C1" "2023-02-03T10:00:00+0000" "Déploiement 🚀 <ok> & done"

# 4. signed tags: the message ends where the signature starts
rawtag 'sig@v1.0.0' "$C2" "Signer <signer@example.com> 1675591200 +0100" \
  $'Signed release\n-----BEGIN PGP SIGNATURE-----\n\niQEzBAABCAAdFiEE\n-----END PGP SIGNATURE-----\n'
rawtag 'sig#prod' "$C2" "Signer <signer@example.com> 1675594800 +0100" \
  $'Promote signed\n\n-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n'

# 6. a tagger line scmrepo splits otherwise than git
rawtag 'odd@v1.0.0' "$C2" "A <b> <c@d> 1675677600 +0000" $'odd tagger\n'

# 5. a renamed ref, a copied ref, a tag of a tag
atag 'orig@v1.0.0' "$C3" "2023-02-07T10:00:00+0000" "registered as orig"
git tag 'moved@v2.0.0' 'orig@v1.0.0'
git tag -d 'orig@v1.0.0' > /dev/null
git tag 'uni-copy@v1.0.0' 'uni@v1.0.0'
atag 'nest#prod' 'uni@v1.0.0' "2023-02-08T10:00:00+0000" "a tag of a tag" 2> /dev/null

echo "$DIR"
