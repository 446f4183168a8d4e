# 100_mime.pl: the MIME builder, checked by an independent parser.
#
# test/mail/mime_cases.py makes ~300 messages (Chinese, emoji and mixed
# subjects of every length from 1 to 80 characters, ASCII subjects that must
# stay readable or must be encoded, long lines, lines starting with dots or
# "From ", CRLF/LF/CR breaks, 8-bit text, with and without HTML).  They are
# queued with crm.send_email and rendered with crm.render_message, twice: with
# the default settings, and with crm.unsubscribe_url and a Chinese
# crm.mail_from_name.  test/mail/mime_check.py parses each one with Python's
# email package (email.policy.default) and checks that the subject and both
# parts decode exactly, the headers are present, Message-ID is the outbox
# row's, lines are CRLF-terminated and within their limits, and every
# encoded-word is at most 75 characters of whole UTF-8 characters.  Each
# message is one test here.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $src = $ENV{CRM_SRC} or die "CRM_SRC is not set";
my $python = '/usr/bin/python3';
my $node = PostgreSQL::Test::Cluster->new('mime');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION crm');

my $cases = `$python $src/test/mail/mime_cases.py`;
is($?, 0, 'mime_cases.py made the cases');
unlike($cases, qr/\$cases\$/, 'the cases can be dollar-quoted');
my $ncases = () = $cases =~ /"subject":/g;
cmp_ok($ncases, '>=', 300, "$ncases cases");

my $unsubscribe = 'https://crm.example.com/unsubscribe?a={{address}}&list=news';
my $from_name = '智学在线 客服';

for my $batch ([ 'defaults', '', '' ], [ 'unsubscribe and display name', $unsubscribe, $from_name ])
{
	my ($label, $url, $name) = @$batch;
	my $settings = '';
	$settings .= "SET crm.unsubscribe_url = '$url';\n" if $url ne '';
	$settings .= "SET crm.mail_from_name = '$name';\n" if $name ne '';
	my $rendered = $node->safe_psql('postgres', <<"SQL");
$settings
CREATE TEMP TABLE queued AS
SELECT n, c, crm.send_email(c->>'to', c->>'subject', c->>'text', c->>'html') AS id
  FROM jsonb_array_elements(\$cases\$$cases\$cases\$::jsonb) WITH ORDINALITY AS x(c, n);
SELECT json_agg(json_build_object('id', q.id, 'case', q.c, 'message_id', o.message_id,
                                  'eml', crm.render_message(q.id)) ORDER BY q.n)
  FROM queued q JOIN crm.email_outbox o ON o.id = q.id;
SQL
	my $file = "${PostgreSQL::Test::Utils::tmp_check}/rendered.json";
	open(my $fh, '>', $file) or die "cannot write $file: $!";
	print $fh $rendered;
	close($fh);

	my @args = ($python, "$src/test/mail/mime_check.py", $file);
	push @args, $url, $name if $url ne '' || $name ne '';
	my ($stdout, $stderr);
	IPC::Run::run(\@args, '>', \$stdout, '2>', \$stderr);
	is($stderr, '', "$label: mime_check.py ran without errors");
	my $checked = 0;
	for my $line (split /\n/, $stdout)
	{
		if ($line =~ /^(not )?ok \d+ - (.*)$/)
		{
			ok(!defined $1, "$label: $2");
			$checked++;
		}
	}
	is($checked, $ncases, "$label: every message was checked");
}

$node->stop;
done_testing();
