#!/usr/bin/env bash
# Install what the PDF edition (`make pdf`) needs: Debian's TeX Live with xelatex, latexmk and the
# fonts the Sphinx LaTeX template uses with xelatex (GNU FreeFont). Called by `make pdf` and
# `make test`. Does nothing when they are present. Exits 1, saying why, when they are missing and
# cannot be installed (no root or no apt-get): `make pdf` then stops, and `make test` goes on
# without a PDF, so that tests/test_pdf.py skips (and fails under CI=true).
set -u
# The smallest set that builds the book (found from the files the build reads, latexmk's .fls):
# xelatex, fontspec and, through its dependencies, the Sphinx template's LaTeX packages
# (fncychap, titlesec, tabulary, polyglossia, ... in texlive-latex-extra and -recommended);
# makeindex is in texlive-binaries; the Zapf Dingbats metrics (texlive-fonts-recommended) and
# texfonts.map (texlive-plain-generic); latexmk; FreeSerif, FreeSans and FreeMono.
# 31 packages, about 410 MB installed.
PACKAGES=(texlive-xetex texlive-latex-extra texlive-fonts-recommended texlive-plain-generic
          latexmk fonts-freefont-otf)
have() {
    command -v xelatex >/dev/null 2>&1 && command -v latexmk >/dev/null 2>&1 \
      && kpsewhich fncychap.sty polyglossia.sty pzdr.tfm >/dev/null 2>&1 \
      && [ -e /usr/share/fonts/opentype/freefont/FreeSerif.otf ]
}
if have; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install_tex: cannot install TeX Live (needs root and apt-get on Debian);" \
         "install ${PACKAGES[*]} to build the PDF" >&2
    exit 1
fi
echo "install_tex: installing Debian's ${PACKAGES[*]} (about 410 MB)" >&2
export DEBIAN_FRONTEND=noninteractive
# Wait for another apt/dpkg run (e.g. the browser install) instead of failing on its lock.
APT=(apt-get -o DPkg::Lock::Timeout=600 -y -qq --no-install-recommends)
install() { "${APT[@]}" install "${PACKAGES[@]}" >/dev/null; }
# One `apt-get update` first, as on a fresh machine, unless the browser install just did it:
# try the install with the current package lists and update only if that fails.
if ! { [ -n "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e '^lock$' -e '^partial$')" ] \
       && install 2>/dev/null; }; then
    "${APT[@]}" update >/dev/null && install \
      || { echo "install_tex: apt-get failed" >&2; exit 1; }
fi
have || { echo "install_tex: TeX Live installed, but xelatex, latexmk or a font is missing" >&2
          exit 1; }
