//! Conformance: timers on the virtual clock, shared data with CAS, shared queues with `on_queue_ready`, metrics —
//! with the conformance guest (`host/guests/conformance`).

use std::time::{Duration, UNIX_EPOCH};

use crate::support::*;
use host::testing::*;

fn now_ms(plugin: &Plugin) -> u128 {
    plugin.now().duration_since(UNIX_EPOCH).unwrap().as_millis()
}

#[test]
fn ticks_fire_on_the_virtual_clock_once_per_period() {
    let plugin = start("ticker 100");
    assert_eq!(plugin.tick_period(), Some(Duration::from_millis(100)));
    let t0 = now_ms(&plugin);
    plugin.advance_time(Duration::from_millis(250));
    assert_eq!(
        notes(&plugin, "tick "),
        [
            format!("tick 1 at {} ms", t0 + 100),
            format!("tick 2 at {} ms", t0 + 200)
        ]
    );
    assert_eq!(now_ms(&plugin), t0 + 250);
    let ticks = callbacks(&plugin, 1)
        .iter()
        .filter(|c| *c == "root on_tick")
        .count();
    assert_eq!(ticks, 2, "on_tick runs on the root context");
}

#[test]
fn no_tick_fires_before_the_first_full_period() {
    let plugin = start("ticker 100");
    plugin.advance_time(Duration::from_millis(99));
    assert!(notes(&plugin, "tick ").is_empty());
}

#[test]
fn a_zero_tick_period_stops_the_timer() {
    let plugin = start("ticker 100 stop-after=3");
    plugin.advance_time(Duration::from_secs(1));
    assert_eq!(notes(&plugin, "tick ").len(), 3);
    assert_eq!(plugin.tick_period(), None);
}

#[test]
fn shared_data_cas_accepts_the_current_value_and_rejects_a_stale_one() {
    let plugin = start("shared-data");
    plugin.set_shared_data("counter", "41");
    let cas = plugin.shared_data("counter").unwrap().1;
    plugin.http_stream().send_request_headers(&[], true);
    assert_eq!(
        note(&plugin, "read counter "),
        format!("read counter 41 cas {cas}")
    );
    assert_eq!(note(&plugin, "write counter "), "write counter 42: Ok(())");
    assert_eq!(
        note(&plugin, "stale write: "),
        "stale write: Err(CasMismatch)"
    );
    let (value, new_cas) = plugin.shared_data("counter").unwrap();
    assert_eq!(value, b"42");
    assert_ne!(new_cas, cas, "every write gets a fresh CAS");
}

#[test]
fn shared_data_outlives_the_stream_that_wrote_it() {
    let plugin = start("shared-data");
    plugin.http_stream().send_request_headers(&[], true);
    assert_eq!(note(&plugin, "read counter "), "read counter none cas none");
    plugin.http_stream().send_request_headers(&[], true);
    assert!(notes(&plugin, "read counter ")[1].starts_with("read counter 1 cas "));
    assert_eq!(plugin.shared_data("counter").unwrap().0, b"2");
}

/// cpp-host `SharedData` is process-wide behind one mutex: Envoy's worker threads, each with its own VM, read and
/// write one store.
#[test]
fn plugins_on_two_threads_of_one_envoy_share_one_store() {
    let envoy = Envoy::new();
    let worker = |envoy: Envoy| {
        move || {
            let plugin = Plugin::guest("conformance-guest")
                .config("shared-data")
                .on(&envoy)
                .start()
                .unwrap();
            for _ in 0..10 {
                plugin.http_stream().send_request_headers(&[], true);
            }
            plugin.assert_not_failed();
        }
    };
    let threads: Vec<_> = (0..2)
        .map(|_| std::thread::spawn(worker(envoy.clone())))
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let (value, _) = envoy.shared_data("", "counter").unwrap();
    let count: u32 = String::from_utf8(value).unwrap().parse().unwrap();
    // CAS makes each increment either land or be retried by nobody: the guest writes with the CAS it read, so a
    // write that lost the race is a CasMismatch and the count is at most 20; with one store it is never below
    // one thread's 10.
    assert!((10..=20).contains(&count), "counter {count}");
}

#[test]
fn removing_shared_data_leaves_an_empty_value_with_a_cas() {
    let plugin = start("shared-data");
    plugin.http_stream().send_request_headers(&[], true);
    assert_eq!(
        note(&plugin, "after remove "),
        "after remove Ok(()): value none cas present true"
    );
}

#[test]
fn a_registered_queue_resolves_by_name_and_an_unknown_name_does_not() {
    let plugin = start("queue");
    let registered = note(&plugin, "registered jobs ");
    let id = registered.rsplit(' ').next().unwrap();
    assert_eq!(
        note(&plugin, "resolved jobs "),
        format!("resolved jobs Some({id})")
    );
    assert_eq!(note(&plugin, "resolved missing "), "resolved missing None");
}

#[test]
fn enqueue_delivers_on_queue_ready_to_the_registering_root_which_drains_it() {
    let plugin = start("queue");
    let id: u32 = note(&plugin, "registered jobs ")
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    plugin.enqueue("jobs", "first");
    plugin.enqueue("jobs", "second");
    assert_eq!(
        notes(&plugin, "dequeued ")
            .into_iter()
            .chain(notes(&plugin, "queue empty"))
            .collect::<Vec<_>>(),
        [
            "dequeued first",
            "dequeued second",
            "queue empty",
            "queue empty"
        ]
    );
    let ready = callbacks(&plugin, 1)
        .into_iter()
        .filter(|c| *c == format!("root on_queue_ready {id}"))
        .count();
    assert_eq!(ready, 2);
    assert_eq!(plugin.dequeue("jobs"), None);
}

#[test]
fn items_the_guest_enqueues_reach_a_consumer_and_notify_the_registering_root() {
    let plugin = start("queue");
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    assert_eq!(note(&plugin, "enqueued "), "enqueued Ok(())");
    assert!(
        callbacks(&plugin, 1)
            .iter()
            .filter(|c| c.starts_with("root on_queue_ready"))
            .count()
            == 1,
        "{:#?}",
        callbacks(&plugin, 1)
    );
    assert_eq!(
        plugin.dequeue("outbox").as_deref(),
        Some(&b"from stream 2"[..])
    );
    assert_eq!(plugin.dequeue("outbox"), None);
}

#[test]
fn counters_gauges_and_histograms_hold_what_the_guest_recorded() {
    let plugin = start("metrics");
    let mut first = plugin.http_stream();
    first.send_request_headers(&[], true);
    assert_eq!(
        note(&plugin, "requests_total read back "),
        "requests_total read back 1"
    );
    assert_eq!(plugin.gauge("active_requests"), 1);
    let mut second = plugin.http_stream();
    second.send_request_headers(&[], true);
    assert_eq!(plugin.gauge("active_requests"), 2);
    first.finish();
    second.finish();
    assert_eq!(plugin.counter("requests_total"), 2);
    assert_eq!(plugin.gauge("active_requests"), 0);
    assert_eq!(plugin.histogram("request_size"), [100, 100, 250, 250]);
    let kinds: Vec<(String, MetricKind)> = plugin
        .metrics()
        .into_iter()
        .map(|m| (m.name, m.kind))
        .collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
}

#[test]
fn plugins_with_one_vm_id_on_one_envoy_share_data_like_worker_threads() {
    let envoy = Envoy::new();
    let worker = |vm_id: &str| {
        guest("shared-data")
            .vm_id(vm_id)
            .on(&envoy)
            .start()
            .unwrap()
    };
    let (first, second, other) = (worker("counters"), worker("counters"), worker("elsewhere"));
    first.http_stream().send_request_headers(&[], true);
    second.http_stream().send_request_headers(&[], true);
    assert_eq!(
        notes(&second, "write counter "),
        ["write counter 2: Ok(())"],
        "the second worker read the first one's write"
    );
    assert_eq!(first.shared_data("counter").unwrap().0, b"2");
    assert_eq!(envoy.shared_data("counters", "counter").unwrap().0, b"2");

    other.http_stream().send_request_headers(&[], true);
    assert_eq!(
        notes(&other, "write counter "),
        ["write counter 1: Ok(())"],
        "another vm_id is apart"
    );
    assert_eq!(envoy.shared_data("elsewhere", "counter").unwrap().0, b"1");
}

/// cpp-host `SharedData::set`: a non-zero CAS that is not the entry's current one is `CasMismatch`, across every
/// VM of the process (one global CAS counter).
#[test]
fn a_cas_from_one_worker_goes_stale_when_another_writes() {
    let envoy = Envoy::new();
    let first = guest("shared-data").vm_id("v").on(&envoy).start().unwrap();
    let second = guest("shared-data").vm_id("v").on(&envoy).start().unwrap();
    first.set_shared_data("counter", "5");
    let cas = first.shared_data("counter").unwrap().1;
    second.set_shared_data("counter", "6");
    assert_ne!(
        second.shared_data("counter").unwrap().1,
        cas,
        "every write gets a fresh CAS"
    );
    assert_eq!(
        first.set_shared_data_with_cas("counter", "7", cas),
        Err(Status::CasMismatch),
        "the first worker's CAS went stale when the second wrote"
    );
    assert_eq!(first.shared_data("counter").unwrap().0, b"6");

    // The same seen by a guest: the second worker reads the current CAS and writes with it, then writes again with
    // the CAS it read, which its own write made stale.
    second.http_stream().send_request_headers(&[], true);
    let current = second.shared_data("counter").unwrap().1;
    assert_eq!(
        notes(&second, "stale write: "),
        ["stale write: Err(CasMismatch)"]
    );
    assert_eq!(envoy.shared_data("v", "counter").unwrap().0, b"7");
    assert_eq!(
        second.set_shared_data_with_cas("counter", "8", current),
        Ok(()),
        "the current CAS is accepted"
    );
}

#[test]
fn plugins_not_started_on_one_envoy_share_nothing() {
    let first = guest("shared-data").vm_id("v").start().unwrap();
    let second = guest("shared-data").vm_id("v").start().unwrap();
    first.set_shared_data("counter", "5");
    assert_eq!(second.shared_data("counter"), None);
}

#[test]
fn a_queue_of_another_vm_id_resolves_and_its_owner_hears_on_queue_ready() {
    let envoy = Envoy::new();
    let consumer = guest("queue").vm_id("jobs-vm").on(&envoy).start().unwrap();
    let producer = guest("record enqueue-to=jobs-vm/jobs")
        .vm_id("front")
        .on(&envoy)
        .start()
        .unwrap();
    let mut stream = producer.http_stream();
    stream.send_request_headers(&[], true);
    assert_eq!(
        note(&producer, "enqueued to "),
        "enqueued to jobs-vm/jobs: Ok(())"
    );
    assert!(
        callbacks(&producer, 1)
            .iter()
            .all(|c| !c.contains("on_queue_ready")),
        "the producer does not own the queue"
    );
    // Posted to the consumer's dispatcher (cpp-host `SharedQueue::enqueue` hands `onQueueReady` to the owner's
    // `call_on_thread`, Envoy's dispatcher `post`): it runs on that worker's next turn, which reading the
    // consumer's logs is not.
    assert_eq!(notes(&consumer, "dequeued "), Vec::<String>::new());
    consumer.dispatch();
    assert_eq!(
        notes(&consumer, "dequeued "),
        [format!("dequeued job from stream {}", stream.id())]
    );

    let alone = guest("record enqueue-to=jobs-vm/jobs")
        .vm_id("front")
        .start()
        .unwrap();
    alone.http_stream().send_request_headers(&[], true);
    assert_eq!(
        note(&alone, "no queue "),
        "no queue jobs-vm/jobs",
        "another process has no such queue"
    );
}
