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
