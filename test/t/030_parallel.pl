# 030_parallel.pl: tfm_embed runs in parallel workers (which also make the first call of the model
# and build its cache file) and gives exactly the embeddings of a serial run
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use Test::More;
use TfmTest;

TfmTest::require_env();

my $db = new_db('tap_cache_030');
my $oid = db_oid($db);
my $off = log_offset();
my $rows = 200;

# 200 texts: short sentences, some with repeated words, every 50th longer than max_tokens
psql($db, <<"SQL");
CREATE TABLE docs (id int PRIMARY KEY, body text);
INSERT INTO docs
SELECT g, CASE WHEN g % 50 = 0 THEN repeat('a rather long document about parallel workers ', 60)
               ELSE format('Document %s is about topic %s, written on day %s.', g, g * 7 % 13, g % 31) END
FROM generate_series(1, $rows) g;
ALTER TABLE docs SET (parallel_workers = 2);
ANALYZE docs;
SQL
is_deeply([ cache_files($oid) ], [], 'no cache file before the first call');

my $parallel = "SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; "
  . "SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2;";
my $query = "SELECT id, tfm_embed(body, 'minilm')::text FROM docs";

# check a plan: Gather with workers launched, tfm_embed evaluated in the parallel scan
sub check_plan
{
	my ($plan, $what, $rows_in_workers) = @_;
	my ($launched) = $plan =~ /Workers Launched: (\d+)/;
	cmp_ok($launched // 0, '>=', 1, "$what: workers launched") or diag $plan;
	like($plan, qr/Parallel Seq Scan on public\.docs.*\n\s+Output: id, \(?tfm_embed\(body, 'minilm'::text\)/,
		"$what: tfm_embed is evaluated by the parallel scan");
	my $in_workers = 0;
	$in_workers += $1 while $plan =~ /Worker \d+:  actual time=[0-9.]+\.\.[0-9.]+ rows=(\d+)/g;
	if (defined $rows_in_workers)
	{
		is($in_workers, $rows_in_workers, "$what: the workers embedded all $rows_in_workers rows");
	}
	else
	{
		cmp_ok($in_workers, '>', 0, "$what: the workers embedded $in_workers rows");
	}
}

# first call of the model ever, made by the parallel workers only
my $plan = psql($db, "$parallel SET parallel_leader_participation = off;\n"
	  . "EXPLAIN (ANALYZE, VERBOSE, COSTS OFF) $query;");
check_plan($plan, 'workers only', $rows);
is(scalar(cache_files($oid)), 1, 'the workers built one cache file');
is_deeply([ tmp_files($oid) ], [], 'no temporary files left');

# results: rows as id => embedding
sub embeddings
{
	my ($settings) = @_;
	my %e;
	for (split /\n/, psql($db, "$settings\n$query;"))
	{
		my ($id, $emb) = split /\|/;
		$e{$id} = $emb;
	}
	return \%e;
}

my $t0 = time;
my $serial = embeddings('SET max_parallel_workers_per_gather = 0;');
is(scalar(keys %$serial), $rows, "serial run: $rows embeddings");
is(scalar(grep { /^\{(?:[-0-9.e]+,){383}[-0-9.e]+\}$/ } values %$serial), $rows, 'serial run: all 384-d');
like(psql($db, "SET max_parallel_workers_per_gather = 0; EXPLAIN (COSTS OFF) $query;"), qr/^Seq Scan on docs/,
	'serial run: the plan is a plain Seq Scan');

# the same query with a parallel plan (workers only, then workers and leader) gives the same rows
for my $case ([ 'workers only', 'SET parallel_leader_participation = off;' ], [ 'workers and leader', '' ])
{
	my ($what, $extra) = @$case;
	like(psql($db, "$parallel $extra\nEXPLAIN (VERBOSE, COSTS OFF) $query;"),
		qr/^Gather\n(?:.*\n)*\s+->  Parallel Seq Scan on public\.docs\n\s+Output: id, \(?tfm_embed/,
		"$what: the plan is parallel with tfm_embed below the Gather");
	my $par = embeddings("$parallel $extra");
	my @diff = grep { ($par->{$_} // '') ne $serial->{$_} } sort { $a <=> $b } keys %$serial;
	ok(!@diff && keys %$par == $rows, "$what: the embeddings equal the serial run's exactly")
	  or diag "rows differing: @diff[0 .. ($#diff < 9 ? $#diff : 9)]";
}
note sprintf 'one serial and two parallel runs took %d s', time - $t0;

is(scalar(cache_files($oid)), 1, 'still one cache file');
check_no_crash($off);
drop_db($db);
done_testing();
