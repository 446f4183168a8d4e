# test/mail/MailTest.pm: helpers shared by the TAP tests with the worker
# (test/t/1*_worker_*.pl, the journeys' 5*.pl, ...): a cluster with crm
# preloaded and quick retry settings, the loopback SMTP and HTTP servers of
# test/mail, a self-signed certificate, and the comparison of delivered
# messages with their outbox rows (test/mail/check_delivery.py), also after
# a crash.
package MailTest;

use strict;
use warnings;
use Exporter 'import';
use File::Path qw(make_path);
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

our @EXPORT = qw(mail_node make_cert start_smtp stop_smtp smtp_events start_http
  stop_http http_events set_conf use_smtp outbox_json check_delivery check_delivery_after_crash
  wait_until_final worker_pid wait_for_worker);

my $src = $ENV{CRM_SRC} or die "CRM_SRC is not set";
my $python = '/usr/bin/python3';
my %servers;    # pid => 1, stopped at exit

# mail_node(NAME, conf => [lines], no_extension => 1, allows_streaming => 1):
# a started cluster with crm preloaded, short retry delays, and (unless
# no_extension) crm installed in database postgres.
sub mail_node
{
	my ($name, %o) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(
		extra => [ '--encoding=UTF8', '--locale=C' ],
		allows_streaming => $o{allows_streaming} // 0);
	$node->append_conf('postgresql.conf', join("\n",
			"shared_preload_libraries = 'crm'",
			"lc_messages = 'C'",
			"crm.retry_delay = '200ms'",
			"crm.retry_max_delay = '1s'",
			"crm.poll_interval = '2s'",
			@{ $o{conf} // [] }) . "\n");
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION crm') unless $o{no_extension};
	return $node;
}

# make_cert(DIR): a self-signed certificate for localhost and 127.0.0.1;
# returns (certificate file, key file).
sub make_cert
{
	my $dir = shift;
	make_path($dir);
	system_or_bail('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
		'-keyout', "$dir/key.pem", '-out', "$dir/cert.pem", '-days', '1',
		'-subj', '/CN=localhost',
		'-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1');
	return ("$dir/cert.pem", "$dir/key.pem");
}

# spawn(DIR, COMMAND...): start a server that writes its port to DIR/ready.
sub spawn
{
	my ($dir, @cmd) = @_;
	make_path($dir);
	unlink "$dir/ready";
	my $pid = fork() // die "fork: $!";
	if ($pid == 0)
	{
		open(STDOUT, '>>', "$dir/server.out") or die;
		open(STDERR, '>&', \*STDOUT) or die;
		exec(@cmd) or die "exec $cmd[0]: $!";
	}
	$servers{$pid} = 1;
	for (1 .. 300)
	{
		last if -f "$dir/ready";
		usleep(100_000);
	}
	-f "$dir/ready" or BAIL_OUT("server did not start: " . slurp_file("$dir/server.out"));
	my $port = slurp_file("$dir/ready");
	chomp $port;
	return $pid, $port;
}

# start_smtp(dir => DIR, port, cert, key, implicit_tls, auth => 'user:pw',
# auth_mechs, auth_without_tls, delay_rcpt, delay_data): test/mail/smtp_server.py on loopback.  Returns a
# hash with pid, port, msgs (the delivered messages) and log (its events).
sub start_smtp
{
	my (%o) = @_;
	my $dir = $o{dir};
	my @cmd = ($python, "$src/test/mail/smtp_server.py",
		'--dir', "$dir/msgs", '--log', "$dir/events.log", '--ready', "$dir/ready");
	push @cmd, '--port', $o{port} if $o{port};
	push @cmd, '--tls-cert', $o{cert}, '--tls-key', $o{key} if $o{cert};
	push @cmd, '--implicit-tls' if $o{implicit_tls};
	push @cmd, '--auth', $o{auth} if $o{auth};
	push @cmd, '--auth-mechs', $o{auth_mechs} if $o{auth_mechs};
	push @cmd, '--auth-without-tls' if $o{auth_without_tls};
	push @cmd, '--delay-rcpt', $o{delay_rcpt} if $o{delay_rcpt};
	push @cmd, '--delay-data', $o{delay_data} if $o{delay_data};
	my ($pid, $port) = spawn($dir, @cmd);
	return { pid => $pid, port => $port, dir => $dir, msgs => "$dir/msgs",
		log => "$dir/events.log" };
}

sub stop_smtp
{
	my $s = shift;
	kill 'TERM', $s->{pid};
	waitpid($s->{pid}, 0);
	delete $servers{ $s->{pid} };
}

# smtp_events(SERVER, EVENT): the server's logged events of that kind.
sub smtp_events
{
	my ($s, $event) = @_;
	return () unless -f $s->{log};
	return grep { !defined $event || $_->{event} eq $event }
	  map { decode_json($_) } split /\n/, slurp_file($s->{log});
}

# start_http(dir => DIR, auth_header => 'Name: value'): test/mail/http_server.py.
sub start_http
{
	my (%o) = @_;
	my $dir = $o{dir};
	my ($pid, $port) = spawn($dir, $python, "$src/test/mail/http_server.py",
		'--dir', "$dir/msgs", '--log', "$dir/events.log", '--ready', "$dir/ready",
		'--auth-header', $o{auth_header});
	return { pid => $pid, port => $port, dir => $dir, msgs => "$dir/msgs",
		log => "$dir/events.log" };
}

sub stop_http { stop_smtp(@_) }
sub http_events { smtp_events($_[0]) }

# set_conf(NODE, name => value, ...): ALTER SYSTEM each, then reload.
sub set_conf
{
	my ($node, @pairs) = @_;
	my $sql = '';
	while (my ($k, $v) = splice(@pairs, 0, 2))
	{
		$sql .= "ALTER SYSTEM SET $k = '$v';\n";
	}
	$node->safe_psql('postgres', $sql . 'SELECT pg_reload_conf();');
}

# use_smtp(NODE, SERVER, extra settings...): point the worker at SERVER.
sub use_smtp
{
	my ($node, $s, @extra) = @_;
	set_conf($node, 'crm.mail_transport' => 'smtp',
		'crm.smtp_url' => "smtp://127.0.0.1:$s->{port}", @extra);
}

# outbox_json(NODE, WHERE): the outbox rows check_delivery.py wants.
sub outbox_json
{
	my ($node, $where) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT coalesce(json_agg(json_build_object('id', id, 'to_address', to_address,
		  'subject', subject, 'body_text', body_text, 'body_html', body_html,
		  'message_id', message_id, 'status', status)), '[]')
		  FROM crm.email_outbox WHERE $where});
}

# check_delivery(NODE, DIR, WHERE, http => 1): compare what was delivered to
# DIR with the outbox rows matching WHERE; returns the result hash (rows,
# delivered, files, duplicates, missing, unexpected, mismatches).
sub check_delivery
{
	my ($node, $dir, $where, %o) = @_;
	my $rows = "${PostgreSQL::Test::Utils::tmp_check}/outbox_rows.json";
	open(my $fh, '>', $rows) or die;
	print $fh outbox_json($node, $where);
	close $fh;
	my @cmd = ($python, "$src/test/mail/check_delivery.py", $rows, $dir);
	push @cmd, '--http' if $o{http};
	my $out = `@cmd`;
	my $result = eval { decode_json($out) } or BAIL_OUT("check_delivery.py: $out");
	diag(explain($result)) if @{ $result->{mismatches} } || @{ $result->{missing} }
	  || @{ $result->{unexpected} };
	return $result;
}

# check_delivery_after_crash(NODE, DIR, WHERE, COUNT, WHEN): the tests that
# crash or stop the worker in the middle of a burst: COUNT messages arrived,
# each matching its row, and a message that arrived twice is one the worker
# had in flight WHEN it went (its delivery log says "interrupted"), under the
# same Message-ID and no more than twice.
sub check_delivery_after_crash
{
	my ($node, $dir, $where, $count, $when) = @_;
	my $r = check_delivery($node, $dir, $where);
	is($r->{delivered}, $count, 'every message arrived');
	is_deeply([ $r->{missing}, $r->{unexpected}, $r->{mismatches} ], [ [], [], [] ],
		'every delivered message matches its row');
	my %was_interrupted = map { $_ => 1 } split /\n/, $node->safe_psql('postgres', q{
		SELECT o.message_id FROM crm.email_outbox o
		 WHERE EXISTS (SELECT FROM crm.email_delivery_log l
		                WHERE l.outbox_id = o.id AND l.detail LIKE 'interrupted%')});
	my @stray = grep { !$was_interrupted{$_} } @{ $r->{duplicates} };
	is_deeply(\@stray, [], 'duplicates (' . scalar(@{ $r->{duplicates} })
		  . ") are only messages in flight $when, under the same Message-ID");
	is($r->{files} - $r->{delivered}, scalar(@{ $r->{duplicates} }), 'each duplicate arrived twice, not more');
	return $r;
}

# wait_until_final(NODE, WHERE): wait until no matching row is queued or sending.
sub wait_until_final
{
	my ($node, $where) = @_;
	$where //= 'true';
	return $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM crm.email_outbox WHERE status IN ('queued', 'sending') AND ($where)");
}

sub worker_pid
{
	my $node = shift;
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'crm worker'");
}

# wait_for_worker(NODE, NOT_PID): wait until a worker runs (other than
# NOT_PID) and return its pid.
sub wait_for_worker
{
	my ($node, $not) = @_;
	$not //= 0;
	$node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'crm worker' AND pid <> $not")
	  or die "no crm worker";
	return worker_pid($node);
}

END
{
	kill 'TERM', keys %servers;
}

1;
