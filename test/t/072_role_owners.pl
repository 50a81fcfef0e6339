# 072_role_owners.pl: model owners and grantees are roles (oids), not role names (issue 13).
# A role that owns models or holds a tfm_grant cannot be dropped (2BP01, naming the marker views
# tfm.owner_of_models / tfm.grantee_of_models) until its models are dropped or handed over with
# tfm_reassign_owned(); after DROP OWNED BY and DROP ROLE, a new role with the old name owns nothing
# and may use nothing, and the models pass to the extension's owner. The owner of a base model gets a
# hint naming the models trained on it and their owners. Dumps restore owners by name with their
# marker privileges; the upgrade from 0.1.0 turns owner names into oids.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use Test::More;
use File::Temp ();
use TfmTest;

TfmTest::require_env();

my @roles = map { "tap072_$_" } qw(alice bob carol dave);
my ($alice, $bob, $carol, $dave) = @roles;
my $db = empty_db('tap_roles_072');
my $dst = empty_db('tap_roles_072_dst');
my $old = empty_db('tap_roles_072_old');
# roles of an earlier run: their databases went with empty_db, so nothing depends on them any more
psql('postgres', "SET client_min_messages = warning; DROP ROLE IF EXISTS " . join(', ', @roles, 'tap072_ghost'));
psql('postgres', join('', map { "CREATE ROLE $_;\n" } @roles));
my $off = log_offset();
(my $dir = $MODEL_DIR) =~ s/'/''/g;

# run SQL as a role; (rc, stdout, stderr) with verbose errors (SQLSTATE in the message)
sub as_role
{
	my ($role, $sql, $in) = @_;
	return psql_result($in // $db, "\\set VERBOSITY verbose\nSET ROLE $role;\n$sql");
}

# an error of SQL run as a role: its stderr, and the test that it failed with the SQLSTATE
sub fails_with
{
	my ($role, $sql, $state, $what) = @_;
	my ($rc, $out, $err) = as_role($role, $sql);
	ok($rc != 0 && $err =~ /ERROR:  $state:/, "$what: $state") or diag "rc $rc, stderr: $err";
	return $err;
}

psql($db, <<"SQL");
CREATE EXTENSION pg_tfm;
SET client_min_messages = warning;
-- the model files as content the roles can pass to tfm_import (only superusers may read files)
CREATE TABLE content AS
SELECT convert_from(pg_read_binary_file('$dir/config.json'), 'UTF8')::jsonb AS config,
       convert_from(pg_read_binary_file('$dir/tokenizer.json'), 'UTF8')::jsonb AS tokenizer,
       pg_read_binary_file('$dir/model.fp16.safetensors') AS weights;
CREATE TABLE mail AS
  SELECT CASE WHEN i % 2 = 0 THEN 'cheap pills, buy now ' || i ELSE 'notes from the review meeting ' || i END AS body,
         CASE WHEN i % 2 = 0 THEN 'spam' ELSE 'ham' END AS label
  FROM generate_series(1, 20) i;
GRANT SELECT ON content, mail TO PUBLIC;
GRANT CREATE ON SCHEMA tfm TO $alice, $bob, $dave;
SQL
my $import = sub {
	my ($name) = @_;
	return "SELECT name, owner FROM content c, tfm_import('$name', c.config, c.tokenizer, c.weights, '{\"max_tokens\": 32}')";
};
my $train = "'SELECT body, label FROM mail', 'classification', '{\"epochs\": 1, \"seed\": 1}'";

# 1. owners are role oids; the marker privileges follow owners and grantees
my ($rc, $out, $err) = as_role($alice, $import->('a_enc') . ";\nSELECT tfm_grant('a_enc', '$carol'::regrole);\n"
	  . "SELECT tfm_revoke('a_enc', 'public');");
is($rc, 0, "$alice imports a_enc, grants it to $carol only") or diag $err;
like($out, qr/^a_enc\|$alice$/m, 'tfm_import returns the owner by name');
($rc, $out, $err) = as_role($bob, "SELECT tfm_has_usage('a_enc')");
is($out, 'f', "$bob may not use a_enc");
psql($db, "SELECT tfm_grant('a_enc', '$bob'::regrole)");
($rc, $out, $err) = as_role($bob, "SET client_min_messages = warning; CALL tfm_train('b_head', 'a_enc', $train)");
is($rc, 0, "$bob trains the head b_head on a_enc") or diag $err;
is(psql($db, "SELECT pg_typeof(owner) FROM tfm.model LIMIT 1"), 'regrole', 'tfm.model.owner is a regrole');
is(psql($db, "SELECT string_agg(name || ' ' || owner, ', ' ORDER BY name) FROM tfm.models"),
	"a_enc $alice, b_head $bob", 'tfm.models shows the owners by name');
is(psql($db, "SELECT string_agg(a.grantee::regrole::text, ' ' ORDER BY a.grantee::regrole::text) FROM pg_class c, aclexplode(c.relacl) a "
	  . "WHERE c.oid = 'tfm.owner_of_models'::regclass AND a.grantee <> c.relowner"), "$alice $bob",
	'the owners hold SELECT on tfm.owner_of_models');
is(psql($db, "SELECT string_agg(a.grantee::regrole::text, ' ' ORDER BY a.grantee::regrole::text) FROM pg_class c, aclexplode(c.relacl) a "
	  . "WHERE c.oid = 'tfm.grantee_of_models'::regclass AND a.grantee <> c.relowner"), "$bob $carol",
	'the grantees hold SELECT on tfm.grantee_of_models');
(undef, $out) = as_role($alice, "SELECT string_agg(name, ',') FROM tfm.owner_of_models");
is($out, 'a_enc', "tfm.owner_of_models shows $alice her models");

# 2. dependent models: the base's owner learns which models use it and who owns them
$err = fails_with($alice, "SELECT tfm_drop('a_enc')", '2BP01', "$alice drops a_enc that b_head uses");
like($err, qr/DETAIL:  Models using it: b_head \(owner $bob\)\./, 'the detail names b_head and its owner');
like($err, qr/HINT:  .*their owners \(or a superuser\) may tfm_drop\(\) them first, or tfm_drop\('a_enc', cascade => true\) drops them too/,
	'the hint says who may drop them, and how to drop them with the base');
fails_with($alice, "SELECT tfm_drop('b_head')", '42501', "$alice drops $bob\'s b_head");
($rc, $out, $err) = as_role($alice, "BEGIN; SET ROLE $alice; SELECT tfm_drop('a_enc', cascade => true);\n"
	  . "SELECT count(*) FROM tfm.models; ROLLBACK");
is($out, "\n0", "$alice drops a_enc with cascade => true: b_head goes too (rolled back)") or diag $err;
like($err, qr/NOTICE:  00000: drop cascades to model "b_head" \(owner $bob\)/, 'a notice names the dropped model and its owner');
$err = fails_with('postgres', "SELECT tfm_drop('a_enc')", '2BP01', 'a superuser drops a_enc that b_head uses');
like($err, qr/b_head \(owner $bob\)/, 'the superuser is told too');

# 3. DROP ROLE fails while a role owns models or holds grants, naming the marker views
psql($db, "REVOKE CREATE ON SCHEMA tfm FROM $alice, $bob, $dave");
for my $c ([$alice, 'owner_of_models'], [$carol, 'grantee_of_models'], [$bob, 'owner_of_models'])
{
	my ($r, $view) = @$c;
	($rc, $out, $err) = psql_result($db, "\\set VERBOSITY verbose\nDROP ROLE $r");
	ok($rc != 0 && $err =~ /ERROR:  2BP01: role "$r" cannot be dropped/, "DROP ROLE $r fails with 2BP01") or diag $err;
	like($err, qr/privileges for view tfm\.$view/, "and names tfm.$view");
}

# 4. tfm_reassign_owned hands bob's models to dave; bob can then be dropped (after his grant is revoked)
fails_with($carol, "SELECT tfm_reassign_owned('$bob', '$carol')", '42501', 'reassigning without the privileges of both roles');
is(psql($db, "SELECT tfm_reassign_owned('$bob', '$dave')"), '1', 'tfm_reassign_owned moves one version');
is(psql($db, "SELECT owner FROM tfm.models WHERE name = 'b_head'"), $dave, "b_head belongs to $dave");
($rc, $out, $err) = psql_result($db, "DROP ROLE $bob");
like($err, qr/privileges for view tfm\.grantee_of_models/, "$bob still holds a grant") and
  unlike($err, qr/owner_of_models/, 'but owns no model');
psql($db, "SELECT tfm_revoke('a_enc', '$bob'::regrole)");
($rc, $out, $err) = psql_result('postgres', "DROP ROLE $bob");
is($rc, 0, "DROP ROLE $bob succeeds once he owns no model and holds no grant") or diag $err;

# 5. DROP OWNED BY revokes the markers; the dropped role's name, reused, owns and may use nothing
my $alice_oid = psql('postgres', "SELECT oid FROM pg_roles WHERE rolname = '$alice'");
psql($db, "DROP OWNED BY $alice, $carol");
($rc, $out, $err) = psql_result('postgres', "DROP ROLE $alice, $carol");
is($rc, 0, "after DROP OWNED BY, DROP ROLE $alice, $carol succeeds") or diag $err;
is(psql($db, "SELECT owner FROM tfm.models WHERE name = 'a_enc'"), "unknown (OID=$alice_oid)",
	'a_enc shows the dropped owner as unknown (OID=n)');
psql('postgres', "CREATE ROLE $alice; CREATE ROLE $carol");
isnt(psql('postgres', "SELECT oid FROM pg_roles WHERE rolname = '$alice'"), $alice_oid, "the new $alice has another oid");
fails_with($alice, "SELECT tfm_drop('a_enc')", '42501', "the new $alice drops a_enc");
fails_with($alice, "SELECT tfm_grant('a_enc', 'public')", '42501', "the new $alice grants a_enc");
fails_with($alice, $import->('a_enc'), '42501', "the new $alice adds a version of a_enc");
(undef, $out) = as_role($alice, "SELECT tfm_has_usage('a_enc')");
is($out, 'f', "the new $alice may not use a_enc");
(undef, $out) = as_role($carol, "SELECT tfm_has_usage('a_enc')");
is($out, 'f', "the new $carol does not inherit the grant to the old one");
fails_with($carol, "SELECT tfm_embed('x', 'a_enc')", '42501', "the new $carol embeds with a_enc");
is(psql($db, "SELECT has_table_privilege('$alice', 'tfm.owner_of_models', 'SELECT')"), 'f',
	"the new $alice holds no marker privilege");
($rc, $out, $err) = psql_result('postgres', "DROP ROLE $alice");
is($rc, 0, "the new $alice can be dropped: she owns nothing") or diag $err;
psql('postgres', "CREATE ROLE $alice");

# the next change of the catalog hands the orphans to the extension's owner and forgets stale grants
psql($db, "SELECT tfm_drop('b_head')");
is(psql($db, "SELECT owner FROM tfm.models WHERE name = 'a_enc'"), 'postgres', 'a_enc now belongs to the extension owner');
is(psql($db, "SELECT grantees FROM tfm.model_acl WHERE name = 'a_enc'"), '{}', 'the grant to the dropped role is gone');

# 6. a dump restores owners by name, with their markers (so DROP ROLE stays refused)
psql($db, "SELECT tfm_reassign_owned('postgres', '$dave')");
my $tmp = File::Temp->newdir('pg_tfm_roles_XXXX', TMPDIR => 1);
my ($rc1) = run_cmd([ 'pg_dump', '-Fc', '-f', "$tmp/db.dump", '-d', $db ]);
is($rc1, 0, 'pg_dump');
my ($rc2, undef, $err2) = run_cmd([ 'pg_restore', '--exit-on-error', '-d', $dst, "$tmp/db.dump" ]);
is($rc2, 0, 'pg_restore') or diag $err2;
is(psql($dst, "SELECT string_agg(name || ' ' || owner, ', ') FROM tfm.models"), "a_enc $dave", 'the restored owner');
psql($db, "SELECT tfm_drop('a_enc')");
($rc, $out, $err) = psql_result($dst, "DROP ROLE $dave");
like($err, qr/privileges for view tfm\.owner_of_models/, "DROP ROLE $dave fails: the restored database carries the marker");
psql($dst, "SELECT tfm_drop('a_enc')");
($rc, $out, $err) = psql_result('postgres', "DROP ROLE $dave");
is($rc, 0, "DROP ROLE $dave succeeds once the restored model is dropped too") or diag $err;

# 7. the upgrade from 0.1.0: owner names become oids; names of missing roles go to the extension's owner
psql($old, "CREATE EXTENSION pg_tfm VERSION '0.1.0'; SELECT 1 FROM tfm_import('m1', '$dir', '{\"max_tokens\": 32}')");
psql($old, "SELECT 1 FROM tfm_import('m2', '$dir', '{\"max_tokens\": 32}'); "
	  . "UPDATE tfm.model SET owner = '$alice' WHERE name = 'm1'; UPDATE tfm.model SET owner = 'tap072_ghost' WHERE name = 'm2'");
($rc, $out, $err) = psql_result($old, 'ALTER EXTENSION pg_tfm UPDATE');
is($rc, 0, 'ALTER EXTENSION pg_tfm UPDATE') or diag $err;
like($err, qr/models of roles that no longer exist \(tap072_ghost\) now belong to the extension's owner/, 'the upgrade names the missing owners');
is(psql($old, "SELECT string_agg(name || ' ' || owner || ' ' || pg_typeof(owner), ', ' ORDER BY name) FROM tfm.model"),
	"m1 $alice regrole, m2 postgres regrole", 'owners converted to oids');
($rc, $out, $err) = psql_result($old, "DROP ROLE $alice");
like($err, qr/privileges for view tfm\.owner_of_models/, "the upgrade gave $alice her marker");
psql($old, "SELECT tfm_drop('m1')");

drop_db($_) for ($db, $dst, $old);
($rc, $out, $err) = psql_result('postgres', "DROP ROLE $alice, $carol");
is($rc, 0, 'the roles can be dropped at the end') or diag $err;
check_no_crash($off, allow => qr/cannot be dropped|must be owner|permission denied|cannot drop model|does not exist/);
done_testing();
