# doc/local.mk - man pages.
dist_man_MANS += \
	doc/sasl-oauth2.1 \
	doc/sasl-oauth2.conf.5 \
	doc/sasl-oauth2-token.5 \
	doc/sasl-oauth2-plugin.8

# The pages render without warnings and document every helper command.
TESTS += doc/test_man.sh
