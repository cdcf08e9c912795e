#!/usr/bin/env bash
# The agency's signed apt repository for alpr-unit (docs/updates.md): add packages and re-sign.
#
#   scripts/apt-repo.sh REPO_DIR GPG_KEY_ID [PACKAGE.deb ...]
#
# Keeps every published .deb in REPO_DIR/pool (so a unit can roll back with apt-get install
# alpr-unit=<version>), regenerates dists/stable/main/binary-{amd64,arm64}/Packages and a Release file
# signed as InRelease and Release.gpg with GPG_KEY_ID (GNUPGHOME as usual). Units trust only that key
# for this repository:  deb [signed-by=/usr/share/keyrings/alpr-agency.gpg] https://... stable main
set -euo pipefail
REPO=${1:?usage: $0 REPO_DIR GPG_KEY_ID [PACKAGE.deb ...]}
KEY=${2:?usage: $0 REPO_DIR GPG_KEY_ID [PACKAGE.deb ...]}
shift 2
command -v apt-ftparchive >/dev/null || { echo "apt-repo: apt-ftparchive missing (apt-get install apt-utils)" >&2; exit 2; }
mkdir -p "$REPO/pool/main"
for deb in "$@"; do
  dpkg-deb --field "$deb" Package >/dev/null || { echo "apt-repo: $deb is not a Debian package" >&2; exit 2; }
  cp "$deb" "$REPO/pool/main/"
done
cd "$REPO"
for arch in amd64 arm64; do
  mkdir -p "dists/stable/main/binary-$arch"
  apt-ftparchive --arch "$arch" packages pool > "dists/stable/main/binary-$arch/Packages"
  gzip -9nkf "dists/stable/main/binary-$arch/Packages"
done
apt-ftparchive -o APT::FTPArchive::Release::Origin=alpr-agency -o APT::FTPArchive::Release::Label=alpr-unit \
  -o APT::FTPArchive::Release::Suite=stable -o APT::FTPArchive::Release::Codename=stable \
  -o APT::FTPArchive::Release::Architectures="amd64 arm64" -o APT::FTPArchive::Release::Components=main \
  release dists/stable > dists/stable/Release.new
mv dists/stable/Release.new dists/stable/Release
rm -f dists/stable/InRelease dists/stable/Release.gpg
gpg --batch --yes --local-user "$KEY" --clearsign -o dists/stable/InRelease dists/stable/Release
gpg --batch --yes --local-user "$KEY" --armor --detach-sign -o dists/stable/Release.gpg dists/stable/Release
echo "apt-repo: $(ls pool/main | wc -l) package(s) in $REPO, signed by $KEY"
