# tests/cli/local.mk - TAP shell tests of the sasl-oauth2 helper.
TESTS += \
	tests/cli/test_manage.sh \
	tests/cli/test_export.sh \
	tests/cli/test_flows.sh \
	tests/cli/test_field.sh \
	tests/cli/test_loopback.sh \
	tests/cli/test_tls_faults.sh
EXTRA_DIST += tests/cli/loopback_hold.py
