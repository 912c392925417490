# templates/local.mk - provider templates, installed into $(pkgdatadir)/templates.
dist_templates_DATA += \
	templates/generic.yaml
