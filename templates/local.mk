# templates/local.mk - provider templates, installed into $(pkgdatadir)/templates.
dist_templates_DATA += \
	templates/generic.yaml \
	templates/google.yaml \
	templates/microsoft-common.yaml \
	templates/microsoft-consumers.yaml \
	templates/microsoft-organizations.yaml \
	templates/microsoft-usgov.yaml \
	templates/microsoft-china.yaml \
	templates/fastmail.yaml \
	templates/yahoo.yaml \
	templates/aol.yaml

# The tests and tools/demo use a copy of the templates in the build tree,
# made like an installed copy (directory 0755, files 0644): the helper
# refuses templates that its group or others may write, and a checkout made
# with umask 002 (git archive, or a user with a private group) has 0664
# files. Such a checkout is then refused only where the user points the
# helper at it, as for any group-writable template.
noinst_DATA += tests/templates/.stamp
tests/templates/.stamp: $(dist_templates_DATA)
	$(AM_V_GEN)rm -rf tests/templates && $(MKDIR_P) tests/templates && \
	for f in $(dist_templates_DATA); do \
		cp "$(srcdir)/$$f" tests/templates/ || exit 1; \
	done && \
	chmod 644 tests/templates/*.yaml && chmod 755 tests/templates && touch $@
clean-local: clean-test-templates
clean-test-templates:
	rm -rf tests/templates
.PHONY: clean-test-templates
