# 500_journeys_worker.pl: journeys and campaigns run by the crm worker.
#  (1) the welcome journey end to end with waits of seconds: welcome, wait,
#      course recommendations (vars from crm.recommend_products, as the
#      journey's owner), wait, discount offer; a learner who buys during the
#      first wait is converted in the transaction of the order and gets
#      nothing more;
#  (2) goal events racing the runner: 300 people, buying at random moments
#      while the worker sends their steps -- nobody gets mail queued after
#      they bought, mail still queued when they bought is withdrawn, and
#      mail already being delivered is logged as in flight (one case forced
#      with a slow SMTP server);
#  (3) quiet hours: a step due inside a person's quiet hours in
#      America/New_York is deferred to their end and then sent; and
#      crm.next_send_time on a grid of instants across the daylight-saving
#      changes of New York, Berlin and Lord Howe (a 30-minute shift) equals
#      a minute-by-minute walk with Python's zoneinfo;
#  (4) the frequency cap across two journeys and a campaign, transactional
#      mail not counted;
#  (5) the A/B winner chosen by the worker equals statsmodels'
#      proportions_ztest on the same counts, significant or not.
use strict;
use warnings;
use lib "$ENV{CRM_SRC}/test/mail";
use JSON::PP;
use MailTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $src = $ENV{CRM_SRC};
my $tmp = PostgreSQL::Test::Utils::tempdir();
my $node = mail_node('journeys', conf => [ "crm.poll_interval = '1s'", "crm.mail_transport = 'file'" ]);
wait_for_worker($node);

sub sql { return $node->safe_psql('postgres', shift) }

sub wait_for
{
	my ($sql, $what) = @_;
	$node->poll_query_until('postgres', $sql) or die "timed out: $what";
}

sql(q{
	INSERT INTO crm.email_template (key, subject, body_text, body_html, category) VALUES
	    ('welcome', '欢迎试学，{{name}}', '{{name}}，欢迎！', '<p><a href="https://zx.example.cn/start">开始</a></p>', 'marketing'),
	    ('courses', '为您推荐的课程', '{{#courses}}{{.}}
	{{/courses}}', NULL, 'marketing'),
	    ('offer', '限时 {{discount}}', '{{name}}：{{discount}}', NULL, 'marketing'),
	    ('receipt', '收据', '谢谢', NULL, 'transactional');
	INSERT INTO crm.product (sku, name, unit_price, currency) VALUES
	    ('PY-101', 'Python 入门', 199, 'CNY'), ('DA-201', '数据分析实战', 399, 'CNY');
	-- someone who bought both, so there are best sellers to recommend
	INSERT INTO crm.contact (name, email) VALUES ('老学员', 'old@example.cn');
	INSERT INTO crm.sales_order (contact_id, currency) SELECT id, 'CNY' FROM crm.contact WHERE email = 'old@example.cn';
	INSERT INTO crm.sales_order_item (sales_order_id, product_id, quantity) SELECT 1, id, 1 FROM crm.product;
});

# --- (1) the welcome journey end to end
sql(q{
	INSERT INTO crm.contact (name, email) VALUES ('王芳', 'wang@example.cn'), ('李娜', 'li@example.cn');
	SELECT crm.grant_consent(id) FROM crm.contact WHERE email IN ('wang@example.cn', 'li@example.cn');
	SELECT crm.create_journey('welcome', '试学欢迎', 'trial_signup', $$[
	    {"kind": "send", "template_key": "welcome"},
	    {"kind": "wait", "delay": "5 seconds"},
	    {"kind": "branch", "condition": "c.orders = 0", "else_position": 7},
	    {"kind": "send", "template_key": "courses",
	     "vars": "(SELECT jsonb_build_object('courses', coalesce(jsonb_agg(r.name ORDER BY r.score DESC, r.sku), '[]')) FROM crm.recommend_products(c.id) r)"},
	    {"kind": "wait", "delay": "5 seconds"},
	    {"kind": "send", "template_key": "offer", "vars": "jsonb_build_object('discount', '8 折')"},
	    {"kind": "exit"}]$$, '{"goal_event": "order_confirmed"}');
	SELECT crm.activate_journey('welcome');
	SELECT crm.track('wang@example.cn', 'trial_signup'), crm.track('li@example.cn', 'trial_signup');
});
wait_for(q{SELECT count(*) = 2 FROM crm.journey_enrollment WHERE position = 2 AND waiting_since IS NOT NULL},
	'both welcome mails queued, both waiting');
# 李娜 buys during the wait: her enrollment ends in the order's transaction
my $li_state = sql(q{
	BEGIN;
	INSERT INTO crm.sales_order (contact_id, currency) SELECT id, 'CNY' FROM crm.contact WHERE email = 'li@example.cn';
	INSERT INTO crm.sales_order_item (sales_order_id, product_id, quantity)
	SELECT currval('crm.sales_order_id_seq'), id, 1 FROM crm.product WHERE sku = 'PY-101';
	COMMIT;
	SELECT e.state FROM crm.journey_enrollment e JOIN crm.contact c ON c.id = e.contact_id WHERE c.email = 'li@example.cn';
});
is($li_state, 'converted', 'the buyer is converted as soon as her order commits');
wait_for(q{SELECT state = 'completed' FROM crm.journey_enrollment e JOIN crm.contact c ON c.id = e.contact_id
           WHERE c.email = 'wang@example.cn'}, 'wang completes the journey');
wait_for(q{SELECT count(*) = 0 FROM crm.email_outbox WHERE status IN ('queued', 'sending')}, 'delivery');
is(sql(q{SELECT string_agg(o.template_key || ':' || o.status, ' ' ORDER BY o.id) FROM crm.email_outbox o
        JOIN crm.contact c ON c.id = o.contact_id WHERE c.email = 'wang@example.cn'}),
	'welcome:sent courses:sent offer:sent', 'the learner got welcome, recommendations and the offer, all delivered');
is(sql(q{SELECT body_text FROM crm.email_outbox WHERE template_key = 'courses'}), "Python 入门\n数据分析实战\n",
	'the recommendations come from crm.recommend_products, evaluated as the owner');
ok(sql(q{SELECT bool_and(gap >= interval '5 seconds') FROM (
         SELECT o.created_at - lag(o.created_at) OVER (ORDER BY o.id) AS gap
           FROM crm.email_outbox o JOIN crm.contact c ON c.id = o.contact_id WHERE c.email = 'wang@example.cn') g
        WHERE gap IS NOT NULL}) eq 't', 'each mail waited its five seconds');
is(sql(q{SELECT string_agg(x.action || ':' || coalesce(x.outcome, '-'), ' ' ORDER BY x.at, x.enrollment_id)
        FROM crm.explain_enrollment('welcome', (SELECT id FROM crm.contact WHERE email = 'wang@example.cn')) x}),
	'enroll:- send:sent wait:waiting branch:branch_then send:sent wait:waiting send:sent exit:completed',
	'crm.explain_enrollment tells the path');
is(sql(q{SELECT string_agg(o.template_key, ' ') FROM crm.email_outbox o JOIN crm.contact c ON c.id = o.contact_id
        WHERE c.email = 'li@example.cn'}), 'welcome', 'the buyer got nothing after buying');
sleep(6);
is(sql(q{SELECT count(*) FROM crm.email_outbox o JOIN crm.contact c ON c.id = o.contact_id WHERE c.email = 'li@example.cn'}),
	1, 'nor later');

# --- (2) goal events racing the runner
sql(q{
	INSERT INTO crm.email_template (key, subject, body_text, category) VALUES
	    ('r1', 'race 1', 'one', 'marketing'), ('r2', 'race 2', 'two', 'marketing'), ('r3', 'race 3', 'three', 'marketing');
	INSERT INTO crm.contact (name, email) SELECT 'race ' || g, 'race' || g || '@example.cn' FROM generate_series(1, 300) g;
	SELECT count(crm.grant_consent(id)) FROM crm.contact WHERE email LIKE 'race%';
	SELECT crm.create_journey('race', 'Race', NULL, $$[
	    {"kind": "send", "template_key": "r1"}, {"kind": "wait", "delay": "2 seconds"},
	    {"kind": "send", "template_key": "r2"}, {"kind": "wait", "delay": "2 seconds"},
	    {"kind": "send", "template_key": "r3"}]$$, '{"goal_event": "bought"}');
	SELECT crm.activate_journey('race');
	SELECT count(crm.enroll('race', id)) FROM crm.contact WHERE email LIKE 'race%';
});
my @people = map { $_ } (1 .. 300);
for (my $i = $#people; $i > 0; $i--) { my $j = int(rand($i + 1)); @people[ $i, $j ] = @people[ $j, $i ]; }
my @buyers = @people[ 0 .. 199 ];
my $buyer_list = join(',', map { "'race$_\@example.cn'" } @buyers);
while (my @batch = splice(@buyers, 0, 10))
{
	my $list = join(',', map { "'race$_\@example.cn'" } @batch);
	sql(qq{INSERT INTO crm.event (contact_id, kind) SELECT id, 'bought' FROM crm.contact WHERE email IN ($list)});
	usleep(int(rand(150_000)));
}
wait_for(q{SELECT count(*) = 0 FROM crm.journey_enrollment e JOIN crm.journey j ON j.id = e.journey_id
           WHERE j.key = 'race' AND e.state = 'active'}, 'the race journey ends for everyone');
wait_for(q{SELECT count(*) = 0 FROM crm.email_outbox WHERE status IN ('queued', 'sending')}, 'delivery');
my ($converted, $completed) = split /\|/, sql(q{
	SELECT count(*) FILTER (WHERE e.state = 'converted'), count(*) FILTER (WHERE e.state = 'completed')
	  FROM crm.journey_enrollment e JOIN crm.journey j ON j.id = e.journey_id WHERE j.key = 'race'});
is($converted + $completed, 300, "everyone converted ($converted) or completed ($completed)");
ok($converted > 100, 'buyers converted as they bought');
is(sql(qq{SELECT count(*) FROM crm.journey_enrollment e JOIN crm.contact c ON c.id = e.contact_id
        JOIN crm.journey j ON j.id = e.journey_id
        WHERE j.key = 'race' AND e.state = 'converted' AND c.email NOT IN ($buyer_list)}), 0, 'and only buyers');
is(sql(q{SELECT count(*) FROM crm.journey_enrollment e JOIN crm.journey j ON j.id = e.journey_id
        JOIN crm.journey_log l ON l.enrollment_id = e.id
       WHERE j.key = 'race' AND e.state = 'converted' AND l.action = 'send' AND l.at > e.ended_at}), 0,
	'no step was sent after a goal event');
is(sql(q{SELECT count(*) FROM crm.journey_enrollment e JOIN crm.journey j ON j.id = e.journey_id
        JOIN crm.journey_log l ON l.enrollment_id = e.id AND l.action = 'send'
        JOIN crm.email_outbox o ON o.id = l.email_id
       WHERE j.key = 'race' AND e.state = 'converted' AND o.status <> 'cancelled'
         AND (o.sent_at IS NULL OR o.sent_at > e.ended_at)
         AND NOT EXISTS (SELECT FROM crm.journey_log f WHERE f.email_id = o.id AND f.action = 'mail_in_flight')}), 0,
	'every buyer\'s mail was delivered before the purchase, withdrawn, or logged as in flight');
is(sql(q{SELECT count(*) - count(DISTINCT o.idempotency_key) FROM crm.email_outbox o WHERE o.idempotency_key LIKE 'journey:%'}),
	0, 'no step queued twice');
is(sql(q{SELECT count(*) FROM crm.journey_enrollment e JOIN crm.journey j ON j.id = e.journey_id
       WHERE j.key = 'race' AND e.state = 'completed'
         AND (SELECT count(*) FROM crm.journey_log l WHERE l.enrollment_id = e.id AND l.outcome = 'sent') <> 3}), 0,
	'everyone who completed (who did not buy, or bought after the last step) got all three steps');
my $withdrawn = sql(q{SELECT count(*) FROM crm.journey_log WHERE action = 'cancel_mail'});
note("$withdrawn queued mails withdrawn by goal events during the race");

# a message the worker is delivering when the person buys: logged as in flight
my $smtp = start_smtp(dir => "$tmp/smtp", delay_data => 4000);
use_smtp($node, $smtp, 'crm.smtp_starttls' => 'off');
sql(q{
	INSERT INTO crm.contact (name, email) VALUES ('赵敏', 'zhao@example.cn');
	SELECT crm.grant_consent(id) FROM crm.contact WHERE email = 'zhao@example.cn';
	SELECT crm.create_journey('in_flight', 'In flight', NULL, $$[
	    {"kind": "send", "template_key": "r1"}, {"kind": "wait", "delay": "1 hour"},
	    {"kind": "send", "template_key": "r2"}]$$, '{"goal_event": "bought"}');
	SELECT crm.activate_journey('in_flight');
	SELECT crm.enroll('in_flight', id) FROM crm.contact WHERE email = 'zhao@example.cn';
});
wait_for(q{SELECT count(*) = 1 FROM crm.email_outbox WHERE to_address = 'zhao@example.cn' AND status = 'sending'},
	'the slow server holds the mail in flight');
sql(q{INSERT INTO crm.event (contact_id, kind) SELECT id, 'bought' FROM crm.contact WHERE email = 'zhao@example.cn'});
is(sql(q{SELECT string_agg(l.action || ':' || l.outcome, ' ' ORDER BY l.id)
        FROM crm.journey_log l JOIN crm.journey_enrollment e ON e.id = l.enrollment_id
        JOIN crm.contact c ON c.id = e.contact_id WHERE c.email = 'zhao@example.cn'}),
	'send:sent wait:waiting event:goal_reached mail_in_flight:goal_reached',
	'a message already claimed by the worker is logged as in flight when the person buys');
wait_for(q{SELECT status = 'sent' FROM crm.email_outbox WHERE to_address = 'zhao@example.cn'}, 'the slow delivery');
sleep(2);
is(sql(q{SELECT count(*) FROM crm.email_outbox WHERE to_address = 'zhao@example.cn'}), 1, 'and nothing follows it');
set_conf($node, 'crm.mail_transport' => 'file');
stop_smtp($smtp);

# --- (3) quiet hours in the person's time zone, deferred and then sent
sql(q{
	INSERT INTO crm.contact (name, email, time_zone) VALUES ('Ann', 'ann@example.com', 'America/New_York');
	SELECT crm.grant_consent(id) FROM crm.contact WHERE email = 'ann@example.com';
});
my ($qs, $qe) = split /\|/, sql(q{
	SELECT ((now() AT TIME ZONE 'America/New_York') - interval '1 hour')::time(0),
	       ((now() AT TIME ZONE 'America/New_York') + interval '15 seconds')::time(0)});
sql(qq{
	SELECT crm.create_journey('quiet', 'Quiet', 'quiet', '[{"kind": "send", "template_key": "welcome"}]',
	       '{"quiet_start": "$qs", "quiet_end": "$qe"}');
	SELECT crm.activate_journey('quiet');
	SELECT crm.track('ann\@example.com', 'quiet');
});
wait_for(q{SELECT count(*) = 1 FROM crm.journey_log l JOIN crm.journey_enrollment e ON e.id = l.enrollment_id
           JOIN crm.journey j ON j.id = e.journey_id WHERE j.key = 'quiet' AND l.outcome = 'deferred_quiet_hours'},
	'the step is deferred');
my $deferral = sql(q{
	SELECT extract(epoch FROM l.at) || '|America/New_York|' || j.quiet_start || '|' || j.quiet_end || '||'
	       || extract(epoch FROM e.next_run_at)
	  FROM crm.journey_log l JOIN crm.journey_enrollment e ON e.id = l.enrollment_id
	  JOIN crm.journey j ON j.id = e.journey_id WHERE j.key = 'quiet'});
my $deferred_to = (split /\|/, $deferral)[5];
wait_for(q{SELECT count(*) = 1 FROM crm.email_outbox WHERE to_address = 'ann@example.com'}, 'the deferred mail');
is(sql(qq{SELECT o.created_at >= to_timestamp($deferred_to) FROM crm.email_outbox o WHERE o.to_address = 'ann\@example.com'}),
	't', 'and sent once the quiet hours are over');
is(sql(q{SELECT (o.created_at AT TIME ZONE 'America/New_York')::time >= j.quiet_end
         FROM crm.email_outbox o, crm.journey j WHERE o.to_address = 'ann@example.com' AND j.key = 'quiet'}), 't',
	'not before the end of the quiet hours in New York');

# crm.next_send_time across daylight-saving changes against a minute-by-minute walk
my $cases = sql(q{
	SELECT extract(epoch FROM t.at) || '|' || z.tz || '|' || coalesce(w.qs::text, '') || '|' || coalesce(w.qe::text, '')
	       || '|' || coalesce(array_to_string(w.days, ','), '') || '|'
	       || extract(epoch FROM crm.next_send_time(t.at, z.tz, w.qs, w.qe, w.days))
	  FROM (VALUES ('America/New_York', '2024-03-10 12:00+00'::timestamptz),
	               ('America/New_York', '2024-11-03 12:00+00'),
	               ('Europe/Berlin', '2024-03-31 06:00+00'),
	               ('Europe/Berlin', '2024-10-27 06:00+00'),
	               ('Australia/Lord_Howe', '2024-04-06 16:00+00'),
	               ('Australia/Lord_Howe', '2024-10-05 16:00+00')) AS z (tz, change),
	       LATERAL generate_series(z.change - interval '30 hours', z.change + interval '30 hours', interval '47 minutes') AS t (at),
	       (VALUES ('21:00'::time, '09:00'::time, NULL::int[]), ('01:00', '02:30', NULL), ('02:00', '03:00', NULL),
	               ('01:30', '02:15', NULL), (NULL, NULL, '{2,4,6}'), ('22:00', '07:00', '{1,2,3,4,5}')) AS w (qs, qe, days)});
open(my $fh, '>', "$tmp/dst_cases.txt") or die;
print $fh "$deferral\n$cases\n";
close $fh;
my $dst = decode_json(`/usr/bin/python3 $src/test/journeys/dst_check.py $tmp/dst_cases.txt`);
ok($dst->{cases} > 1000, "$dst->{cases} cases across six daylight-saving changes and the live deferral");
is($dst->{mismatches}, 0, 'crm.next_send_time equals the zoneinfo walk in every one')
  or diag(explain($dst->{first}));

# --- (4) the frequency cap across two journeys and a campaign
sql(q{
	UPDATE crm.setting SET value = '2 per 1 hour' WHERE key = 'marketing_cap';
	INSERT INTO crm.contact (name, email, attributes) VALUES ('周强', 'zhou@example.cn', '{"cap": true}');
	SELECT crm.grant_consent(id) FROM crm.contact WHERE email = 'zhou@example.cn';
	SELECT crm.send_template('receipt', 'zhou@example.cn');      -- transactional: not counted
	SELECT crm.create_segment('capped', 'Cap test', $$c.attributes ? 'cap'$$);
	SELECT * FROM crm.refresh_segment('capped');
	SELECT crm.create_journey('cap_a', 'Cap A', NULL, '[{"kind": "send", "template_key": "welcome"}]');
	SELECT crm.create_journey('cap_b', 'Cap B', NULL, '[{"kind": "send", "template_key": "offer", "vars": "jsonb_build_object(''discount'', ''9 折'')"}]');
	SELECT crm.activate_journey('cap_a'), crm.activate_journey('cap_b');
	SELECT crm.create_campaign('cap_c', 'Cap C', 'capped', 'welcome');
	BEGIN;
	SELECT crm.enroll('cap_a', id), crm.enroll('cap_b', id) FROM crm.contact WHERE email = 'zhou@example.cn';
	SELECT crm.schedule_campaign('cap_c', now());
	COMMIT;
});
wait_for(q{SELECT status = 'sent' FROM crm.campaign WHERE key = 'cap_c'}, 'the campaign');
wait_for(q{SELECT count(*) = 0 FROM crm.journey_enrollment e JOIN crm.journey j ON j.id = e.journey_id
           WHERE j.key IN ('cap_a', 'cap_b') AND e.state = 'active' AND e.next_run_at <= now()}, 'the journeys');
is(sql(q{SELECT count(*) FROM crm.email_outbox WHERE to_address = 'zhou@example.cn' AND category = 'marketing'}), 2,
	'two marketing mails across the two journeys and the campaign: the cap');
is(sql(q{SELECT count(*) FROM crm.email_outbox WHERE to_address = 'zhou@example.cn' AND category = 'transactional'}), 1,
	'the transactional mail went too, uncounted');
is(sql(q{SELECT (SELECT count(*) FROM crm.campaign_recipient WHERE status = 'capped')
            + (SELECT count(*) FROM crm.journey_enrollment e JOIN crm.journey_log l ON l.enrollment_id = e.id
                WHERE l.outcome = 'capped' AND e.state = 'active'
                  AND e.next_run_at BETWEEN now() + interval '50 minutes' AND now() + interval '61 minutes')}), 1,
	'the third was held back: a capped campaign recipient, or a journey step waiting an hour for the cap');
sql(q{UPDATE crm.setting SET value = '' WHERE key = 'marketing_cap'});

# --- (5) the A/B winner, against statsmodels
sql(q{
	UPDATE crm.setting SET value = 'https://zx.example.cn/c' WHERE key = 'tracking_url';
	INSERT INTO crm.email_template (key, subject, body_text, body_html, category) VALUES
	    ('ab_a', 'A', 'a', '<a href="https://zx.example.cn/a">a</a>', 'marketing'),
	    ('ab_b', 'B', 'b', '<a href="https://zx.example.cn/b">b</a>', 'marketing');
	INSERT INTO crm.contact (name, email, attributes)
	SELECT 'ab ' || g, 'ab' || g || '@example.cn', '{"ab": true}' FROM generate_series(1, 600) g;
	SELECT count(crm.grant_consent(id)) FROM crm.contact WHERE email LIKE 'ab%';
	SELECT crm.create_segment('ab', 'A/B', $$c.attributes ? 'ab'$$);
	SELECT * FROM crm.refresh_segment('ab');
});

sub ab_round
{
	my ($key, $mod_a, $mod_b) = @_;
	sql(qq{
		SELECT crm.create_campaign('$key', '$key', 'ab', NULL, '{"variants": [{"key": "A", "template_key": "ab_a"},
		       {"key": "B", "template_key": "ab_b"}], "test_percent": 60, "test_hours": 0.002}');
		SELECT crm.schedule_campaign('$key', now());
	});
	wait_for(qq{SELECT test_sent_at IS NOT NULL FROM crm.campaign WHERE key = '$key'}, "$key test mails");
	my $clicks = sql(qq{
		SELECT count(crm.record_click(substring(o.body_html from 't=([A-Za-z0-9_.-]+)')))
		  FROM crm.campaign_recipient r JOIN crm.campaign c ON c.id = r.campaign_id
		  JOIN crm.email_outbox o ON o.id = r.email_id
		 WHERE c.key = '$key' AND r.grp = 'test'
		   AND ((r.variant = 'A' AND r.contact_id % $mod_a = 0) OR (r.variant = 'B' AND r.contact_id % $mod_b = 0))});
	note("$key: $clicks clicks");
	wait_for(qq{SELECT winner IS NOT NULL FROM crm.campaign WHERE key = '$key'}, "$key winner");
	# the counts, read independently of crm's decision
	my $counts = sql(qq{
		SELECT json_build_object('variants', json_agg(json_build_object('key', v.key, 'recipients', v.n,
		                                                                 'clicks', v.x) ORDER BY v.key))
		  FROM (SELECT r.variant AS key, count(*) AS n,
		               count(*) FILTER (WHERE EXISTS (SELECT FROM crm.event e
		                                               WHERE e.kind = 'email_click' AND e.contact_id = r.contact_id
		                                                 AND e.properties -> 'email_id' = to_jsonb(r.email_id))) AS x
		          FROM crm.campaign_recipient r JOIN crm.campaign c ON c.id = r.campaign_id
		         WHERE c.key = '$key' AND r.grp = 'test' AND r.status = 'queued'
		         GROUP BY r.variant) v});
	open(my $out, '>', "$tmp/$key.json") or die;
	print $out $counts;
	close $out;
	my $ref = decode_json(`/usr/bin/python3 $src/test/journeys/ab_check.py $tmp/$key.json`);
	my ($winner, $z, $significant) = split /\|/, sql(qq{
		SELECT winner, winner_detail ->> 'z', winner_detail ->> 'significant' FROM crm.campaign WHERE key = '$key'});
	is($winner, $ref->{winner}, "$key: the winner is statsmodels' ($ref->{winner}, p = "
		  . sprintf('%.4f', $ref->{p}) . ')');
	ok(abs($z - $ref->{z}) < 1e-9, "$key: z = $z, statsmodels $ref->{z}");
	is($significant, $ref->{significant} ? 'true' : 'false', "$key: significant: $significant");
	wait_for(qq{SELECT status = 'sent' FROM crm.campaign WHERE key = '$key'}, "$key sent");
	is(sql(qq{SELECT count(*) FROM crm.campaign_recipient r JOIN crm.campaign c ON c.id = r.campaign_id
	        WHERE c.key = '$key' AND r.grp = 'winner' AND (r.variant IS DISTINCT FROM c.winner OR r.status <> 'queued')}),
		0, "$key: the rest got the winner");
	return $ref->{significant};
}
ok(ab_round('ab_clear', 10, 3), 'a clear difference is significant');
ok(!ab_round('ab_close', 10, 9), 'a small one is not (the first variant goes to the rest)');

is(sql(q{SELECT count(*) FROM crm.worker_duties WHERE duty IN ('journeys', 'campaigns') AND errors = 0}), 2,
	'the journeys and campaigns duties ran without errors');
$node->stop;
done_testing();
