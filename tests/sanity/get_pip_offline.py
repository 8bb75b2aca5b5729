"""Stand-in for the get-pip bootstrap script that ansible-test downloads into ~/.ansible/test/cache.

Its download host is out of reach here (only package registries are), so the Makefile places this
file there instead. It does what get-pip does: put pip into the fresh virtual environment (from the
interpreter's bundled ensurepip wheel), then run `pip` with the given arguments, minus get-pip's own
--no-setuptools/--no-wheel switches."""
import ensurepip
import os
import runpy
import sys

# ensurepip clears PIP_* settings and points PIP_CONFIG_FILE at /dev/null; the pip run after it
# must see the machine's pip configuration (index, certificates) again.
saved_environment = dict(os.environ)
ensurepip.bootstrap(upgrade=False, default_pip=False)
os.environ.clear()
os.environ.update(saved_environment)
# get-pip takes pip-install arguments without the "install" command itself.
sys.argv = ["pip", "install"] + [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
