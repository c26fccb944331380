#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# install_test.sh — does an installed ebra work for a consumer?
#
# Installs the build tree into a scratch prefix, then checks, failing on the
# first problem:
#   1. the expected files are installed, and no path of the build or source
#      tree leaks into them (CMake package, pkg-config file, RUNPATH);
#   2. every installed header compiles on its own, as C11 and as C++;
#   3. libebra.so exports exactly the EBRA_API functions of the installed
#      headers (no internal symbol, none missing), and every global symbol
#      of libebra.a starts with ebra_ (public) or ebi_ (internal): no namespace
#      pollution;
#   4. a consumer project finds the package with find_package(ebra) and
#      builds and runs a C and a C++17 program (the C++ layer) against
#      ebra::ebra and against ebra::ebra_static;
#   5. the same consumers build with plain `cc`/`c++ $(pkg-config ...)`,
#      shared and with `pkg-config --static`, and run;
#   6. ebra::ebra_static finds ck and liburcu through their pkg-config
#      files, not the default linker path: with PKG_CONFIG_LIBDIR pointing
#      only at a scratch directory whose .pc files and libraries stand
#      elsewhere, the consumer links those libraries by full path, and runs.
# Each consumer run must print "consumer ok", and the shared ones must load
# libebra.so from the prefix (not from the build tree or the system).
#
# Usage: install_test.sh BUILD_DIR SOURCE_DIR CONSUMER_DIR WORK_DIR CMAKE
#                        GENERATOR CC CXX LIBDIR INCLUDEDIR VERSION [CONFIG]
# (tests/install/CMakeLists.txt passes these from the main project.)
set -euo pipefail

if [[ $# -lt 11 ]]; then
  sed -n '2,21p' "$0" >&2
  exit 2
fi
build_dir=$1 source_dir=$2 consumer_dir=$3 work=$4 cmake=$5 generator=$6
cc=$7 cxx=$8 libdir=$9 includedir=${10} version=${11} config=${12:-Release}

step() { printf '\n== %s\n' "$*"; }
fail() { printf '\ninstall test FAILED: %s\n' "$*" >&2; exit 1; }
canon() { realpath -m "$1"; }

for tool in nm readelf ldd pkg-config realpath; do
  command -v "$tool" >/dev/null || fail "required tool '$tool' not found"
done
[[ $libdir != /* && $includedir != /* ]] ||
  fail "CMAKE_INSTALL_LIBDIR/INCLUDEDIR are absolute ($libdir, $includedir): cannot install to a scratch prefix"

rm -rf "$work"
mkdir -p "$work"
prefix=$(canon "$work/prefix")
lib=$prefix/$libdir
inc=$prefix/$includedir

# Run a consumer binary; it must succeed and say "consumer ok".
run_consumer() {
  local out
  out=$("$@" 2>&1) || { printf '%s\n' "$out" >&2; fail "consumer $1 exited non-zero"; }
  printf '%s\n' "$out"
  grep -q '^consumer ok' <<<"$out" || fail "consumer $1 did not print 'consumer ok'"
}

# The binary must load libebra.so from the prefix.
check_loads_from_prefix() {
  local bin=$1 found
  found=$(ldd "$bin" | awk '/libebra\.so/ { print $3 }')
  [[ -n $found ]] || fail "$bin does not link libebra.so"
  [[ $(canon "$found") == "$(canon "$lib")"/* ]] ||
    fail "$bin loads libebra.so from $found, not from $lib"
  echo "$bin loads $found"
}

# The binary must not need libebra.so at all.
check_static() {
  local bin=$1
  if readelf -d "$bin" | grep -q 'NEEDED.*libebra'; then
    fail "$bin was meant to link libebra.a but needs libebra.so"
  fi
  echo "$bin does not need libebra.so"
}

step "1. install into $prefix"
"$cmake" --install "$build_dir" --prefix "$prefix" --config "$config"
for f in "$inc/ebra.h" "$inc/ebra/pool.h" "$lib/libebra.so" "$lib/libebra.a" \
         "$lib/cmake/ebra/ebraConfig.cmake" "$lib/cmake/ebra/ebraConfigVersion.cmake" \
         "$lib/cmake/ebra/ebraTargets.cmake" "$lib/pkgconfig/ebra.pc"; do
  [[ -e $f ]] || fail "not installed: $f"
done
soname=$(readelf -d "$lib/libebra.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ -n $soname && -e $lib/$soname ]] || fail "SONAME '$soname' of libebra.so is not installed"
echo "installed: headers, libebra.so ($soname), libebra.a, CMake package, ebra.pc"

leaks=$(grep -rlF -e "$(canon "$build_dir")" -e "$(canon "$source_dir")" \
          "$inc" "$lib/cmake" "$lib/pkgconfig" || true)
[[ -z $leaks ]] || fail "installed files name the build or source tree: $leaks"
runpath=$(readelf -d "$lib/libebra.so" | grep -E 'R(UN)?PATH' || true)
[[ -z $runpath ]] || fail "installed libebra.so keeps a run path: $runpath"
echo "no build-tree path in the installed package files or libebra.so"

step "2. every installed header compiles on its own (C11 and C++)"
mapfile -t headers < <(cd "$inc" && find ebra.h ebra -name '*.h' | sort)
for h in "${headers[@]}"; do
  printf '#include <%s>\ntypedef int header_check;\n' "$h" |
    "$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -I"$inc" -x c - ||
    fail "$h does not compile on its own as C11"
  if [[ -n $cxx ]]; then
    printf '#include <%s>\ntypedef int header_check;\n' "$h" |
      "$cxx" -std=c++11 -Wall -Wextra -Werror -fsyntax-only -I"$inc" -x c++ - ||
      fail "$h does not compile on its own as C++"
  fi
done
echo "${#headers[@]} headers ok"

step "3. exported symbols"
# The public API: every function declared with EBRA_API in the headers (a
# declaration starts its line with EBRA_API; the name comes before the "(").
api=$(cd "$inc" && grep -h '^EBRA_API' "${headers[@]}" | grep -v '^EBRA_API extern' |
        sed -E 's/^EBRA_API[^(]*[^A-Za-z0-9_(]([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*\(.*/\1/' |
        sort -u)
[[ -n $api ]] || fail "no EBRA_API declaration found in the installed headers"
# Exported data (ebra/pool_inline.h's layout-numbered TLS and segment-map
# symbols): "EBRA_API extern ... NAME" where NAME is a macro of the headers
# that spells the symbol.
data=$(cd "$inc" && grep -h '^EBRA_API extern' "${headers[@]}" |
         sed -E -e 's/__attribute__.*//' -e 's/\[[^]]*\]//g' -e 's/;.*//' |
         awk '{ print $NF }' | sort -u)
for name in $data; do
  value=$(cd "$inc" && grep -h "^#define $name " "${headers[@]}" | awk '{ print $3 }' | head -n1)
  api=$(printf '%s\n%s\n' "$api" "${value:-$name}" | sort -u)
done
# _init/_fini and the linker's section markers may appear in any .so.
exported=$(nm -D --defined-only "$lib/libebra.so" | awk '{ print $NF }' | sed 's/@.*//' |
             grep -vxE '_init|_fini|_edata|_end|__bss_start' | sort -u)
not_api=$(comm -13 <(printf '%s\n' "$api") <(printf '%s\n' "$exported"))
missing=$(comm -23 <(printf '%s\n' "$api") <(printf '%s\n' "$exported"))
[[ -z $not_api ]] || fail "libebra.so exports symbols that are not public API:
$not_api"
[[ -z $missing ]] || fail "public API declared in the headers but not exported by libebra.so:
$missing"
echo "libebra.so exports exactly the $(wc -l <<<"$api") EBRA_API functions and data symbols"

polluting=$(nm -g --defined-only "$lib/libebra.a" 2>/dev/null |
              awk 'NF == 3 { print $3 }' | grep -vE '^(ebra|ebi)_' | sort -u || true)
[[ -z $polluting ]] || fail "libebra.a defines global symbols outside the ebra_ and ebi_ namespaces:
$polluting"
echo "libebra.a defines global symbols only under ebra_"

step "4. CMake consumer: find_package(ebra) with ebra::ebra and ebra::ebra_static"
for kind in shared static; do
  dir=$work/cmake-$kind
  static=OFF
  [[ $kind == static ]] && static=ON
  "$cmake" -S "$consumer_dir" -B "$dir" -G "$generator" \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_BUILD_TYPE=Release -DCONSUMER_STATIC=$static \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF ||
    fail "configuring the CMake consumer ($kind) failed"
  found=$(sed -n 's/^ebra_DIR:PATH=//p' "$dir/CMakeCache.txt")
  [[ $(canon "$found") == "$(canon "$lib/cmake/ebra")" ]] ||
    fail "find_package(ebra) found $found, not the package in $lib/cmake/ebra"
  "$cmake" --build "$dir" --config Release || fail "building the CMake consumer ($kind) failed"
  for name in consumer consumer_cxx; do
    bin=$(find "$dir" -type f -name "$name" -perm -u+x | head -n1)
    [[ -n $bin ]] || fail "the CMake consumer ($kind) produced no $name"
    if [[ $kind == shared ]]; then check_loads_from_prefix "$bin"; else check_static "$bin"; fi
    run_consumer "$bin"
  done
done

step "5. pkg-config consumer: cc \$(pkg-config --cflags --libs ebra), shared and --static"
export PKG_CONFIG_PATH=$lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
pkg-config --exists --print-errors ebra || fail "pkg-config cannot read ebra.pc"
pc_version=$(pkg-config --modversion ebra)
[[ $pc_version == "$version" ]] || fail "ebra.pc says version $pc_version, the project is $version"
for var in prefix libdir includedir; do
  value=$(pkg-config --variable=$var ebra)
  [[ $(canon "$value")/ == "$prefix"/* ]] ||
    fail "ebra.pc: $var=$value is outside the install prefix $prefix
(ebra.pc hard-codes the configure-time CMAKE_INSTALL_PREFIX; make it relative to \${pcfiledir})"
done
echo "ebra.pc: version $pc_version, prefix $(pkg-config --variable=prefix ebra)"

src=$consumer_dir/consumer.c
warn=(-std=c11 -Wall -Wextra -Wpedantic -Werror)
# shellcheck disable=SC2046 # pkg-config output is meant to be word-split
"$cc" "${warn[@]}" $(pkg-config --cflags ebra) "$src" -o "$work/pc-shared" \
  $(pkg-config --libs ebra) || fail "cc with pkg-config --libs ebra failed"
(
  export LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  check_loads_from_prefix "$work/pc-shared"
  run_consumer "$work/pc-shared"
)

# --static lists the private dependencies too; -l:libebra.a makes the linker
# take the archive although libebra.so sits next to it.
static_libs=$(pkg-config --static --libs ebra)
echo "pkg-config --static --libs ebra: $static_libs"
[[ " $static_libs " == *" -lebra "* ]] || fail "pkg-config --static --libs ebra has no -lebra"
static_libs=${static_libs/-lebra/-l:libebra.a}
# shellcheck disable=SC2046,SC2086
"$cc" "${warn[@]}" $(pkg-config --cflags ebra) "$src" -o "$work/pc-static" $static_libs ||
  fail "cc with pkg-config --static --libs ebra failed"
check_static "$work/pc-static"
run_consumer "$work/pc-static"

if [[ -n $cxx ]]; then
  cxxsrc=$consumer_dir/consumer_cxx.cpp
  cxxwarn=(-std=c++17 -Wall -Wextra -Wpedantic -Werror)
  # shellcheck disable=SC2046
  "$cxx" "${cxxwarn[@]}" $(pkg-config --cflags ebra) "$cxxsrc" -o "$work/pc-cxx-shared" \
    $(pkg-config --libs ebra) || fail "c++ with pkg-config --libs ebra failed"
  (
    export LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    check_loads_from_prefix "$work/pc-cxx-shared"
    run_consumer "$work/pc-cxx-shared"
  )
  # shellcheck disable=SC2046,SC2086
  "$cxx" "${cxxwarn[@]}" $(pkg-config --cflags ebra) "$cxxsrc" -o "$work/pc-cxx-static" \
    $static_libs || fail "c++ with pkg-config --static --libs ebra failed"
  check_static "$work/pc-cxx-static"
  run_consumer "$work/pc-cxx-static"
fi

step "6. ebra::ebra_static finds ck and liburcu through pkg-config, not the linker's default path"
# A scratch directory stands for a private install of the dependencies:
# links to the libraries and .pc files whose libdir points there.
# PKG_CONFIG_LIBDIR replaces pkg-config's default search path, so only
# these .pc files can be found.
deps=$work/deps
mkdir -p "$deps/lib" "$deps/pkgconfig"
for mod in ck liburcu-memb liburcu-qsbr liburcu-cds; do
  pcdir=$(pkg-config --variable=pcfiledir "$mod") || fail "no pkg-config file for $mod"
  sysdir=$(pkg-config --variable=libdir "$mod")
  sed -e "s|^libdir=.*|libdir=$deps/lib|" "$pcdir/$mod.pc" >"$deps/pkgconfig/$mod.pc"
  for l in $(pkg-config --libs-only-l "$mod" | sed 's/-l//g'); do
    for f in "$sysdir"/lib"$l".so*; do ln -sf "$f" "$deps/lib/"; done
  done
done
dir=$work/cmake-private-deps
PKG_CONFIG_LIBDIR=$deps/pkgconfig PKG_CONFIG_PATH= "$cmake" -S "$consumer_dir" -B "$dir" \
  -G "$generator" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_BUILD_TYPE=Release -DCONSUMER_STATIC=ON -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF ||
  fail "configuring the static consumer against the private dependencies failed"
"$cmake" --build "$dir" --config Release --verbose >"$work/private-deps-build.log" 2>&1 ||
  { cat "$work/private-deps-build.log"; fail "building the static consumer against the private dependencies failed"; }
for l in libck.so liburcu-memb.so liburcu-qsbr.so liburcu-cds.so; do
  grep -q -- "$deps/lib/$l" "$work/private-deps-build.log" ||
    fail "the static consumer did not link $deps/lib/$l (see $work/private-deps-build.log)"
done
echo "the static consumer links ck and liburcu from $deps/lib"
bin=$(find "$dir" -type f -name consumer -perm -u+x | head -n1)
check_static "$bin"
run_consumer "$bin"

printf '\ninstall test passed\n'
