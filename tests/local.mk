# tests/local.mk - every test speaks TAP; automake's TAP driver counts cases.
LOG_DRIVER = env AM_TAP_AWK='$(AWK)' $(SHELL) $(top_srcdir)/build-aux/tap-driver.sh
SH_LOG_DRIVER = $(LOG_DRIVER)
EXTRA_DIST += tests/tap.h tests/lib.sh

include tests/unit/local.mk
include tests/oauth/local.mk
include tests/cli/local.mk
include tests/plugin/local.mk
include tests/integration/local.mk
include tests/server/local.mk
include tests/fuzz.mk
include tests/interop/local.mk
include tests/deb/local.mk

# make installcheck (and so make distcheck): the installed helper and plugin
# without the test environment (tests/installcheck.sh).
EXTRA_DIST += tests/installcheck.sh
installcheck-local:
	$(SHELL) $(srcdir)/tests/installcheck.sh '$(DESTDIR)$(bindir)' '$(DESTDIR)$(plugindir)' \
		'$(DESTDIR)$(sysconfdir)' '$(DESTDIR)$(localstatedir)' '$(DESTDIR)$(prefix)' '$(abs_top_builddir)'
