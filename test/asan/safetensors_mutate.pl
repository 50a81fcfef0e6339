# safetensors_mutate.pl (scripts/asan.sh): mutation fuzzing of the safetensors header parser inside
# the server, where libFuzzer cannot reach it (src/model/safetensors.c reads the header with jsonb).
# A small valid safetensors buffer (6 tensors of every usable dtype and __metadata__) is mutated
# ST_MUTATIONS times (default 400, seeded: ST_SEED) by a PL/pgSQL loop: bytes replaced with JSON
# characters, ranges deleted or duplicated, hostile tokens inserted (huge and negative integers,
# floats, nested arrays, duplicate keys), sometimes the 8-byte length itself. Each buffer goes to
# tfm_import(name, config, tokenizer, weights) with the real config and tokenizer. Checks: every
# call returns or fails with a data error (SQLSTATE class 22) or the expected "not a BERT
# checkpoint" errors, never an internal error (XX), out of memory (53) or a crash.
# ST_SECONDS (default: none) stops the loop after that many seconds, whatever ST_MUTATIONS says
# (test/t/083_safetensors_mutate.pl runs a bounded version in the normal suite); the same seed
# always makes the same mutants in the same order, so a shorter run is a prefix of a longer one.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t";
use Test::More;
use TfmTest;

TfmTest::require_env();
my $n = $ENV{ST_MUTATIONS} || 400;
my $seed = $ENV{ST_SEED} // 0.42;
my $seconds = $ENV{ST_SECONDS} || 0;    # 0: no time limit
my $db = new_db('tap_st_mutate');
my $off = log_offset();

# the base buffer: tensors a..f of each dtype, data right after each other
my @t = ([ a => 'F32', [ 2, 3 ] ], [ b => 'F16', [4] ], [ c => 'BF16', [ 2, 2 ] ], [ d => 'I64', [1] ],
	[ 'embeddings.word_embeddings.weight' => 'F16', [ 3, 2 ] ], [ e => 'U8', [ 2, 1, 2 ] ]);
my %size = (F32 => 4, F16 => 2, BF16 => 2, I64 => 8, U8 => 1);
my ($pos, @parts) = (0);
for my $x (@t)
{
	my ($name, $dt, $shape) = @$x;
	my $bytes = $size{$dt};
	$bytes *= $_ for @$shape;
	push @parts, sprintf('"%s":{"dtype":"%s","shape":[%s],"data_offsets":[%d,%d]}', $name, $dt,
		join(',', @$shape), $pos, $pos + $bytes);
	$pos += $bytes;
}
my $header = '{"__metadata__":{"format":"pt"},' . join(',', @parts) . '}';
my $data_hex = join '', map { sprintf '%02x', $_ % 256 } 1 .. $pos;
(my $dir = $MODEL_DIR) =~ s/'/''/g;

psql($db, <<"SQL");
CREATE TABLE parts AS SELECT pg_read_file('$dir/config.json')::jsonb AS config,
  pg_read_file('$dir/tokenizer.json')::jsonb AS tokenizer,
  convert_to('$header', 'UTF8') AS header, '\\x$data_hex'::bytea AS data;
-- little-endian 8-byte length
CREATE FUNCTION le8(n bigint) RETURNS bytea LANGUAGE sql IMMUTABLE AS
  \$\$ SELECT decode(string_agg(lpad(to_hex((n >> (8 * i)) & 255), 2, '0'), '' ORDER BY i), 'hex')
       FROM generate_series(0, 7) i \$\$;
CREATE FUNCTION mutate_import(iterations int, seed float8, seconds float8) RETURNS TABLE (state text, n bigint)
LANGUAGE plpgsql AS \$\$
DECLARE
  p parts;
  h bytea; w bytea; st text; msg text; at int; len int;
  chars text := '{}[]":,-.0123456789eE tnulfasrF';
  tokens text[] := ARRAY['-1', '1e300', '18446744073709551615', '9223372036854775807', '4.5', '"F16"',
    '"BOOL"', '[]', '{}', '[[1]]', ',', ':', '"shape":[1,2]', '"data_offsets":[0,8]', 'null', 'true',
    '"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}', '"__metadata__":{}', '"\\u0000"',
    '[1,2,3,4,5,6,7,8,9]', '-0', '1e-5', '"x"', '99999999999999999999999999'];
  counts jsonb := '{}';
  deadline timestamptz := clock_timestamp() + make_interval(secs => seconds);
BEGIN
  PERFORM setseed(seed);
  SELECT * INTO p FROM parts;
  FOR i IN 1 .. iterations LOOP
    EXIT WHEN seconds > 0 AND clock_timestamp() > deadline;
    h := p.header;
    FOR k IN 1 .. 1 + floor(random() * 3)::int LOOP
      len := length(h);
      at := floor(random() * greatest(len, 1))::int;
      CASE floor(random() * 4)::int
        WHEN 0 THEN h := set_byte(h, at, ascii(substr(chars, 1 + floor(random() * length(chars))::int, 1)));
        WHEN 1 THEN h := substring(h FROM 1 FOR at) || substring(h FROM at + 2 + floor(random() * 8)::int);
        WHEN 2 THEN h := substring(h FROM 1 FOR at)
                       || convert_to(tokens[1 + floor(random() * array_length(tokens, 1))::int], 'UTF8')
                       || substring(h FROM at + 1);
        ELSE h := substring(h FROM 1 FOR at) || substring(h FROM 1 + floor(random() * len)::int FOR 1 + floor(random() * 16)::int)
                  || substring(h FROM at + 1);
      END CASE;
    END LOOP;
    w := le8(length(h)) || h || p.data;
    IF random() < 0.05 THEN
      w := set_byte(w, floor(random() * 8)::int, floor(random() * 256)::int);
    END IF;
    BEGIN
      PERFORM tfm_import('mutant', p.config, p.tokenizer, w);
      st := 'imported';
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
      -- errors of the parser itself, or of the BERT checks after a successful parse
      IF msg !~ '(not a valid safetensors|not valid JSON|not valid UTF-8|must be an integer|NUL byte)' THEN
        st := st || '-after-parse';
      END IF;
    END;
    counts := jsonb_set(counts, ARRAY[st], to_jsonb(coalesce((counts->>st)::int, 0) + 1));
  END LOOP;
  RETURN QUERY SELECT key, value::text::bigint FROM jsonb_each(counts) ORDER BY key;
END \$\$;
SQL

# the unmutated buffer parses and fails later, at the BERT tensor check
my ($rc, $out, $err) = psql_result($db, "SELECT tfm_import('base', config, tokenizer, le8(length(header)) || header || data) FROM parts");
isnt($rc, 0, 'the base buffer is no BERT checkpoint');
unlike($err, qr/not a valid safetensors file/, 'but it is a valid safetensors buffer') or diag($err);
note("base buffer: $err");

my $t0 = time;
my $res = psql($db, "SELECT state, n FROM mutate_import($n, $seed, $seconds)", sep => ' ', timeout => $TIMEOUT * 10);
my %by = map { split ' ' } split /\n/, $res;
my $total = 0;
$total += $_ for values %by;
if ($seconds)
{
	# the deadline may stop the loop early, but not before a useful number of mutants
	cmp_ok($total, '<=', $n, "at most $n mutated buffers");
	cmp_ok($total, '>=', $ENV{ST_MIN_MUTATIONS} // 100, "$total mutated buffers went through tfm_import in ${seconds} s");
}
else
{
	is($total, $n, "$n mutated buffers went through tfm_import");
}
my @bad = grep { /^(XX|53|57|58)/ } keys %by;
ok(!@bad, 'no internal error, out-of-memory or resource error') or diag("SQLSTATEs: $res");
my @other = grep { !/^(22|42|imported)/ } keys %by;
ok(!@other, 'every failure is a data error (class 22) or a model-shape error (42)') or diag("SQLSTATEs: $res");
my $past = 0;
$past += $by{$_} for grep { /after-parse|imported/ } keys %by;
cmp_ok($past, '>', 0, "some mutants are valid safetensors and reach the BERT checks ($past)");
diag(sprintf('%d mutations in %d s; outcomes by SQLSTATE: %s', $total, time - $t0, join(', ', map { "$_ $by{$_}" } sort keys %by)));
check_no_crash($off, errors_allowed => 1);
done_testing();
