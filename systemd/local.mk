# systemd/local.mk - the refresh service and timer, as system units (with a
# drop-in example for Postfix's store) and as user units. The services are
# made from .in files so that ExecStart names the installed helper.
if SYSTEMD_SYSTEM
systemdsystemunit_DATA = systemd/system/sasl-oauth2-refresh.service
dist_systemdsystemunit_DATA = systemd/system/sasl-oauth2-refresh.timer
endif
if SYSTEMD_USER
systemduserunit_DATA = systemd/user/sasl-oauth2-refresh.service
dist_systemduserunit_DATA = systemd/user/sasl-oauth2-refresh.timer
endif
unitexamplesdir = $(docdir)/examples/sasl-oauth2-refresh.service.d
dist_unitexamples_DATA = systemd/postfix.conf

EXTRA_DIST += systemd/system/sasl-oauth2-refresh.service.in \
	systemd/user/sasl-oauth2-refresh.service.in
# Built whether or not they are installed, so that the tests can check them.
noinst_DATA += systemd/system/sasl-oauth2-refresh.service \
	systemd/user/sasl-oauth2-refresh.service
CLEANFILES += systemd/system/sasl-oauth2-refresh.service \
	systemd/user/sasl-oauth2-refresh.service

so_edit_unit = $(AM_V_GEN)$(MKDIR_P) $(@D) && \
	sed -e 's|@bindir[@]|$(bindir)|g' $(srcdir)/$@.in >$@.tmp && mv $@.tmp $@
systemd/system/sasl-oauth2-refresh.service: $(srcdir)/systemd/system/sasl-oauth2-refresh.service.in Makefile
	$(so_edit_unit)
systemd/user/sasl-oauth2-refresh.service: $(srcdir)/systemd/user/sasl-oauth2-refresh.service.in Makefile
	$(so_edit_unit)
