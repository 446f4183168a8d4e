# 600_charts_report.pl: the SVG charts outside PostgreSQL.  The demo's sales
# report (demo/10_company.sql, 50_quality.sql, 60_report.sql) is written,
# every chart in it and a set of edge-case charts must parse with Python's
# xml.etree as clean SVG 1.1, and headless Chromium renders the report to a
# PNG that Python checks: not blank, the forecast band's colour present,
# text drawn.  The checks are test/charts/check_charts.py.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;

my $src = $ENV{CRM_SRC} or die "CRM_SRC is not set";
my $tmp = PostgreSQL::Test::Utils::tempdir();
my $node = PostgreSQL::Test::Cluster->new('charts');
$node->init(extra => [ '--encoding=UTF8', '--locale=C.UTF-8' ]);
$node->append_conf('postgresql.conf', "timezone = 'Asia/Shanghai'\n");
$node->start;

sub python_check
{
	my ($name, @args) = @_;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ 'python3', "$src/test/charts/check_charts.py", @args ], '>', \$out, '2>', \$err);
	ok($ok, $name) or diag($out . $err);
	note($out);
}

# the demo company, its cleaning and its report
for my $part ('10_company.sql', '50_quality.sql', '60_report.sql')
{
	$node->command_ok(
		[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', "demo_out=$tmp", '-d', 'postgres',
		  '-f', "$src/demo/$part" ],
		"demo/$part runs");
}
ok(-s "$tmp/report.html", 'demo/60_report.sql writes report.html');
python_check('the report holds five charts, each clean SVG 1.1', 'html', "$tmp/report.html", 5);

# charts on awkward input: markup and control characters in labels, negative
# and zero values, one point, times of day, numbers, no title, own colours
my %edge = (
	'escaping' => q{SELECT crm.bar_chart(l, v, jsonb_build_object('title', '<b>"标题"</b> & ''quotes'' ' || chr(1)))
	                  FROM (VALUES ('<script>alert(1)</script>', 1.0), ('a & b "c" ''d''' || chr(7), 2.0),
	                               (repeat('很长的产品名称', 20), 3.0), (NULL, 4.0)) t (l, v)},
	'negative' => q{SELECT crm.bar_chart(l, v) FROM (VALUES ('盈利', 12345.678), ('亏损', -9876.5)) t (l, v)},
	'funnel_zero' => q{SELECT crm.funnel_chart(l, v ORDER BY p)
	                     FROM (VALUES (1, '线索', 10), (2, '成交', 0), (3, '复购', 0)) t (p, l, v)},
	'one_point' => q{SELECT crm.line_chart(now(), 1.0)},
	'hours' => q{SELECT crm.line_chart(t, extract(hour FROM t)::float8, 'today', '{"colors": ["#000", "tomato"]}')
	               FROM generate_series(date_trunc('day', now()), date_trunc('day', now()) + interval '23 hours',
	                                    interval '1 hour') t},
	'numbers' => q{SELECT crm.line_chart(x, sin(x / 3.0) * 1e6, CASE WHEN x % 2 = 0 THEN '偶数' ELSE 'odd <&>' END)
	                 FROM generate_series(-20, 20) x},
	'forecast' => q{SELECT crm.forecast_chart(array_agg(y ORDER BY i),
	                    (SELECT crm.holt_winters(y, 4, 'additive' ORDER BY i) FROM s), 8, 0.5, '{"width": 900}')
	                  FROM (SELECT i, 10 + i + 5 * (i % 4) AS y FROM generate_series(1, 24) i) h},
);
$node->safe_psql('postgres',
	"CREATE TABLE s AS SELECT i, (10 + i + 5 * (i % 4))::float8 AS y FROM generate_series(1, 24) i");
my @files;
for my $name (sort keys %edge)
{
	my $svg = $node->safe_psql('postgres', $edge{$name});
	ok(length($svg) > 100, "edge chart $name is drawn");
	my $file = "$tmp/$name.svg";
	open(my $fh, '>:raw', $file) or die "cannot write $file: $!";
	print $fh $svg;
	close($fh);
	push @files, $file;
}
python_check('every edge-case chart is clean SVG 1.1', 'svg', @files);

# the report in a browser
my $png = "$tmp/report.png";
my ($out, $err) = ('', '');
my $rendered = IPC::Run::run(
	[
		'chromium', '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		'--disable-background-networking', '--disable-component-update', '--disable-sync',
		'--disable-dev-shm-usage', "--user-data-dir=$tmp/chromium-profile", '--hide-scrollbars',
		'--window-size=1340,1450', "--screenshot=$png", "file://$tmp/report.html"
	],
	'>', \$out, '2>', \$err, IPC::Run::timeout(240));
ok($rendered && -s $png, 'headless Chromium renders the report to a PNG') or diag($out . $err);
python_check('the rendered report shows charts, the forecast band and text', 'png', $png, '#fcd5ae');

$node->stop;
done_testing();
