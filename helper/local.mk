# helper/local.mk - the sasl-oauth2 command line helper.
bin_PROGRAMS += sasl-oauth2
sasl_oauth2_SOURCES = \
	helper/cli.h \
	helper/main.c \
	helper/cli_util.c \
	helper/cmd_manage.c \
	helper/cmd_io.c \
	helper/cmd_auth.c \
	helper/loopback.c \
	helper/redirect_parse.h \
	helper/redirect_parse.c \
	helper/cmd_token.c \
	helper/cmd_status.c \
	helper/cmd_doctor.c \
	helper/doctor_p.h \
	helper/doctor_login.c \
	helper/tls.h \
	helper/tls.c \
	helper/cmd_tunnel.c \
	helper/protect.c \
	helper/cmd_init.c
sasl_oauth2_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(SASL_CFLAGS) $(SSL_CFLAGS)
sasl_oauth2_LDADD = libtokenstore.la $(JSONC_LIBS) $(SASL_LIBS) $(SSL_LIBS)
