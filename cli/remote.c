/* SPDX-License-Identifier: ISC */
/*
 * albatross-client, remote use (docs/tls.md): --csr writes a certificate
 * signing request carrying the command; --destination sends the command to
 * albatross-tls-endpoint, in a certificate signed on the way with --ca and
 * --ca-key, or in the one given to the certificate command.
 */
#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>

#include "cli-private.h"

/* The leaf's common name for msg: its one label, or "." for the root path. */
static int leaf_name(struct cli *cli, const alb_msg *msg, char *cn, size_t size)
{
	_cleanup_free_ char *s = alb_name_to_string(msg->name);

	if (!s)
		return cli_error(EXIT_FAILED, "out of memory");
	if (streq(s, ":")) {
		snprintf(cn, size, ".");
		return EXIT_OK;
	}
	if (alb_name_depth(msg->name) != 0 || alb_name_is_path(msg->name))
		return cli_error(EXIT_USAGE,
				 "%s: a remote or certificate command names one label ('hello', or "
				 "nothing for the whole domain), not '%s': the domain comes from "
				 "the signing CA's chain",
				 cli->command, s);
	snprintf(cn, size, "%s", s);
	return EXIT_OK;
}

static bool msg_compressed(const alb_msg *msg)
{
	if (msg->cmd.config && alb_unikernel_config_get_image_compressed(msg->cmd.config))
		return true;
	return (msg->cmd.kind == ALB_CMD_BLOCK_ADD || msg->cmd.kind == ALB_CMD_BLOCK_SET) &&
	       msg->cmd.compressed;
}

/*
 * Policies are not remote commands: the host's operator manages them, and a
 * tenant's come from the CA certificates of its chain (the endpoint installs
 * them). Said before anything is signed or sent; the endpoint's refusal of a
 * leaf carrying policy-add or policy-remove stays for other clients.
 */
static int policy_is_local(struct cli *cli)
{
	return cli_error(EXIT_USAGE,
			 "%s: policies are managed locally (on the host: albatross-client "
			 "add-policy / remove-policy); remotely they come from the CA "
			 "certificates of your chain: 'add-policy PATH ... --csr' makes a CA "
			 "request for one, to be signed by your CA's issuer",
			 cli->command);
}

/* The extension for msg: a policy (add-policy) or the command. */
static int make_ext(struct cli *cli, const alb_msg *msg, alb_x509_ext **ret)
{
	if (msg->cmd.kind == ALB_CMD_POLICY_REMOVE)
		return policy_is_local(cli);
	if (msg->cmd.kind == ALB_CMD_POLICY_ADD) {
		if (alb_x509_ext_new_policy(msg->cmd.policy, ret) < 0)
			return cli_error(EXIT_FAILED, "out of memory");
		return EXIT_OK;
	}
	if (!alb_x509_command_allowed(msg->cmd.kind))
		return cli_error(EXIT_USAGE, "%s: this command cannot be put in a certificate",
				 cli->command);
	if (alb_x509_ext_new_command(cli->ctx, msg, ret) < 0)
		return cli_error(EXIT_FAILED, "%s: %s", cli->command, alb_ctx_last_error(cli->ctx));
	return EXIT_OK;
}

int cli_write_csr(struct cli *cli, const alb_msg *msg)
{
	_cleanup_(alb_x509_ext_freep) alb_x509_ext *ext = NULL;
	char cn[ALB_LABEL_MAX + 1], req[PATH_MAX], key[PATH_MAX];
	int r;

	if (msg->cmd.kind == ALB_CMD_POLICY_REMOVE)
		return policy_is_local(cli);
	if (msg->cmd.kind == ALB_CMD_POLICY_ADD) {
		if (alb_name_depth(msg->name) != 1 || !alb_name_is_path(msg->name))
			return cli_error(EXIT_USAGE,
					 "%s: a policy request names one label ('alice:'); the "
					 "domain above comes from the signing CA's chain",
					 cli->command);
		_cleanup_free_ char *s = alb_name_to_string(msg->name);
		if (!s)
			return cli_error(EXIT_FAILED, "out of memory");
		snprintf(cn, sizeof(cn), "%.*s", (int)(strlen(s) - 1), s);
	} else if ((r = leaf_name(cli, msg, cn, sizeof(cn))) != EXIT_OK) {
		return r;
	}
	if (msg_compressed(msg))
		return cli_error(EXIT_USAGE,
				 "%s: --compress cannot be used with --csr: the certificate binds "
				 "the data as they are (their size; an image also by its digest)",
				 cli->command);
	if ((r = make_ext(cli, msg, &ext)) != EXIT_OK)
		return r;
	const char *base = streq(cn, ".") ? alb_command_to_string(msg->cmd.kind) : cn;
	snprintf(req, sizeof(req), "%s.req", base);
	snprintf(key, sizeof(key), "%s.key", base);
	if (access(key, F_OK) == 0 || access(req, F_OK) == 0)
		return cli_error(EXIT_FAILED,
				 "%s: '%s' or '%s' exists already: remove them, or work in another "
				 "directory",
				 cli->command, req, key);
	if (alb_x509_csr_generate(cli->ctx, cn, ext, ALB_X509_KEY_ED25519, req, key) < 0)
		return cli_error(EXIT_FAILED, "%s: %s", cli->command, alb_ctx_last_error(cli->ctx));
	if (cli->json) {
		struct json j;
		json_begin(&j, stdout);
		json_object_open(&j);
		json_kv_string(&j, "request", req);
		json_kv_string(&j, "key", key);
		json_kv_string(&j, "common-name", cn);
		json_kv_string(&j, "command", alb_command_to_string(msg->cmd.kind));
		json_object_close(&j);
		json_end(&j);
	} else {
		/* The common name '.' is the whole domain of the signing CA (docs/tls.md). */
		char on[ALB_NAME_STRING_MAX + 32];
		if (streq(cn, "."))
			snprintf(on, sizeof(on), "on the signing CA's whole domain");
		else
			snprintf(on, sizeof(on), "common name '%s'", cn);
		printf("wrote %s and %s (%s, %s); have it signed with\n"
		       "  albatross-client sign CACERT DB CAKEY %s\n",
		       req, key,
		       msg->cmd.kind == ALB_CMD_POLICY_ADD ? "a CA request for a policy"
							   : alb_command_to_string(msg->cmd.kind),
		       on, req);
	}
	return EXIT_OK;
}

static void remove_tree(const char *dir)
{
	static const char *const files[] = {"request.pem", "key.pem", "cert.pem"};
	char path[PATH_MAX + 32];

	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		(void)unlink(path);
	}
	(void)rmdir(dir);
}

static int connect_tls(struct cli *cli, const char *cert, const char *key, alb_client **ret)
{
	int r = alb_client_connect_tls(cli->ctx, cli->destination, cert, key, cli->server_ca,
				       cli->handshake_ms, ret);
	if (r == -EINVAL)
		return cli_error(EXIT_USAGE, "%s", alb_ctx_last_error(cli->ctx));
	if (r == -EKEYREJECTED)
		return cli_error(EXIT_TLS, "%s", alb_ctx_last_error(cli->ctx));
	if (r < 0)
		return cli_error(EXIT_CONNECT, "%s", alb_ctx_last_error(cli->ctx));
	return EXIT_OK;
}

int cli_connect_remote(struct cli *cli, const alb_msg *msg, alb_client **ret)
{
	_cleanup_(alb_x509_ext_freep) alb_x509_ext *ext = NULL;
	char cn[ALB_LABEL_MAX + 1], dir[PATH_MAX], req[PATH_MAX + 16], key[PATH_MAX + 16],
	    cert[PATH_MAX + 16];
	int r;

	if (!cli->cert &&
	    (msg->cmd.kind == ALB_CMD_POLICY_ADD || msg->cmd.kind == ALB_CMD_POLICY_REMOVE))
		return policy_is_local(cli);
	if (!cli->server_ca)
		return cli_error(EXIT_USAGE, "--destination needs --server-ca: the CA of the "
					     "endpoint's certificate");
	/* The certificate command sends what its certificate says: the endpoint judges. */
	if (cli->cert)
		return connect_tls(cli, cli->cert, cli->key, ret);
	if (!cli->ca || !cli->ca_key)
		return cli_error(EXIT_USAGE,
				 "--destination needs --ca and --ca-key to sign the command (or "
				 "use the certificate command with a signed one)");
	if ((r = leaf_name(cli, msg, cn, sizeof(cn))) != EXIT_OK)
		return r;
	if ((r = make_ext(cli, msg, &ext)) != EXIT_OK)
		return r;

	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/albatross-client.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return cli_error(EXIT_FAILED, "Failed to create a directory in %s: %s",
				 tmp && tmp[0] ? tmp : "/tmp", strerror(errno));
	snprintf(req, sizeof(req), "%s/request.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	r = alb_x509_csr_generate(cli->ctx, cn, ext, ALB_X509_KEY_ED25519, req, key);
	bool signing = r >= 0;
	if (signing)
		r = alb_x509_csr_sign(cli->ctx, cli->ca, cli->ca_key, req, 0, NULL, cert);
	if (r < 0) {
		remove_tree(dir);
		/* A command that the CA's policy does not allow fails as the command (exit 1);
		 * a --ca or --ca-key that cannot be used is a certificate or key file that
		 * cannot be used (exit 5), as --help says. */
		int code = signing && r != -EACCES && r != -EDQUOT && r != -ENOMEM ? EXIT_TLS
										   : EXIT_FAILED;
		return cli_error(code, "%s: %s", cli->command, alb_ctx_last_error(cli->ctx));
	}
	r = connect_tls(cli, cert, key, ret);
	/* Loaded (or not): the key goes now. */
	remove_tree(dir);
	return r;
}

int cli_read_certificate_command(struct cli *cli, const char *path, alb_msg **ret)
{
	_cleanup_(alb_x509_chain_freep) alb_x509_chain *chain = NULL;
	_cleanup_(alb_x509_ext_freep) alb_x509_ext *ext = NULL;
	_cleanup_(alb_name_freep) alb_name *name = NULL;
	_cleanup_(alb_msg_freep) alb_msg *msg = NULL;
	_cleanup_free_ char *cn = NULL;
	int r;

	if (alb_x509_chain_new(&chain) < 0)
		return cli_error(EXIT_FAILED, "out of memory");
	if (alb_x509_chain_read_file(cli->ctx, chain, path) < 0)
		return cli_error(EXIT_FAILED, "'%s': %s", path, alb_ctx_last_error(cli->ctx));
	r = alb_x509_chain_get_ext(cli->ctx, chain, 0, &ext);
	if (r == -ENOENT)
		return cli_error(EXIT_FAILED, "'%s' carries no albatross command", path);
	if (r < 0)
		return cli_error(EXIT_FAILED, "'%s': %s", path, alb_ctx_last_error(cli->ctx));
	const struct alb_cmd *cmd = alb_x509_ext_get_cmd(ext);
	if (!cmd)
		return cli_error(EXIT_FAILED,
				 "'%s' is a CA certificate (it carries a policy), not a command",
				 path);
	cn = alb_x509_chain_get_common_name(chain, 0);
	if (!cn || alb_name_parse(cli->ctx, streq(cn, ".") ? ":" : cn, &name) < 0)
		return cli_error(EXIT_FAILED, "'%s': its common name '%s' is not a label", path,
				 cn ? cn : "");
	if (alb_msg_new(&msg, ALB_MSG_COMMAND, 0, name) < 0)
		return cli_error(EXIT_FAILED, "out of memory");
	/* The command as the certificate has it. */
	if (alb_x509_ext_take_cmd(ext, &msg->cmd) < 0)
		return cli_error(EXIT_FAILED, "'%s' carries no albatross command", path);
	*ret = TAKE_PTR(msg);
	return EXIT_OK;
}
