"""cifar_exp_binary.py: where the Python tools find the cifar-exp binary (standard library only;
installed beside plot_runs.py, imported by it and by bench/bench_common.py, so that the one lookup
serves the checkout and the installation alike).

The lookup, in order:
  - $CIFAR_EXP_BIN (the name scripts/sweep.sh reads), else $CIFAR_EXP (deprecated: the caller
    notes it; an empty value counts as not set);
  - this checkout's build/cifar-exp (with all_builds also build-pypi/cifar-exp, scripts/build.sh's
    second build) where executable;
  - in an installation (this file in PREFIX/share/cifar-exp/scripts): PREFIX/bin/cifar-exp;
  - cifar-exp on PATH.
"""
import os
import shutil

BINARY_ENV = "CIFAR_EXP_BIN"  # the cifar-exp binary
DEPRECATED_BINARY_ENV = "CIFAR_EXP"  # read when BINARY_ENV is not set; deprecated
BUILDS = ("build", "build-pypi")  # this checkout's build folders (scripts/build.sh)

HERE = os.path.dirname(os.path.abspath(__file__))
# The checkout (scripts/..): where build/cifar-exp is looked for.
ROOT = os.path.dirname(HERE)
# Installed as PREFIX/share/cifar-exp/scripts/ (CMakeLists.txt install()): PREFIX.
INSTALL_SUFFIX = os.path.join("share", "cifar-exp", "scripts")


def is_executable(path):
    return os.path.isfile(path) and os.access(path, os.X_OK)


def environment_binary(environ=None):
    """(value, "$NAME") of $CIFAR_EXP_BIN, else of the deprecated $CIFAR_EXP (the caller says it
    is deprecated); (None, None) when neither is set or both are empty."""
    environ = os.environ if environ is None else environ
    for name in (BINARY_ENV, DEPRECATED_BINARY_ENV):
        if environ.get(name):
            return environ[name], "$" + name
    return None, None


def installed_binary(here=HERE):
    """PREFIX/bin/cifar-exp when this file is installed in PREFIX/share/cifar-exp/scripts and
    that binary is executable; else None."""
    if not here.endswith(os.sep + INSTALL_SUFFIX):
        return None
    path = os.path.join(here[:-len(INSTALL_SUFFIX)], "bin", "cifar-exp")
    return path if is_executable(path) else None


def default_binaries(all_builds=False, root=ROOT):
    """The binaries to use when neither the command line nor the environment names one: root's
    build/cifar-exp (with all_builds also build-pypi/cifar-exp) where executable; else the
    installation's bin/cifar-exp; else [cifar-exp on PATH]; else []."""
    builds = [os.path.join(root, build, "cifar-exp")
              for build in (BUILDS if all_builds else BUILDS[:1])]
    found = [path for path in builds if is_executable(path)]
    if found:
        return found
    installed = installed_binary()
    if installed:
        return [installed]
    on_path = shutil.which("cifar-exp")
    return [on_path] if on_path else []
