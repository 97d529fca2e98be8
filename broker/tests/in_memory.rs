//! The broker on the in-memory disk with a hand-driven clock, no sockets:
//! a single-shard [`Shard`] over `ShardStore<MemStorage>` answers a SEND and
//! a PULL through the real [`dispatch`], survives a process crash
//! (`MemStorage::kill`) and still serves the acknowledged message; two
//! shards joined by the in-memory mesh serve each other's queues. The
//! first bricks of the whole-broker simulation (issue 9).

use std::cell::Cell;
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use bolide_broker::clock::{ManualClock, SharedClock};
use bolide_broker::config::BrokerConfig;
use bolide_broker::handler::{dispatch, Peer};
use bolide_broker::replica::ShardReplica;
use bolide_broker::shard::mesh::{local_mesh, LocalMesh, Mesh};
use bolide_broker::shard::{Parcel, Shard, MESH_CHANNEL_CAPACITY};
use bolide_broker::shared::BrokerShared;
use bolide_proto::codes::{pull_sys_flag, request_code, response_code};
use bolide_proto::header::pull::PullMessageRequestHeader;
use bolide_proto::header::send::{SendMessageRequestHeader, SendMessageResponseHeader};
use bolide_proto::ids::{PhysicalOffset, ShardId};
use bolide_proto::message::RecordView;
use bolide_proto::msgid::OffsetMsgId;
use bolide_proto::RemotingCommand;
use bolide_store::config::{FlushMode, StoreConfig};
use bolide_store::io::mem::MemStorage;
use bolide_store::store::ShardStore;
use bolide_store::StoreError;

/// 2026-01-01T00:00:00Z: the manual clock's start.
const START_MS: i64 = 1_767_225_600_000;
const TOPIC: &str = "InMemoryTopic";
const GROUP: &str = "InMemoryGroup";
/// Queues of the topic.
const QUEUES: u32 = 4;

fn broker_config(dir: &Path) -> BrokerConfig {
    let mut config = BrokerConfig::default();
    config.store.data_dir = dir.to_path_buf();
    // Below the test store's limit, so the broker refuses bigger first.
    config.broker.max_message_bytes = 8 << 10;
    config
}

/// The store config the broker derives, shrunk to test sizes (the
/// in-memory disk holds every byte in RAM).
fn store_config(config: &BrokerConfig) -> StoreConfig {
    StoreConfig {
        flush_mode: FlushMode::Async,
        delay_levels: config.store_config().delay_levels,
        ..StoreConfig::for_tests()
    }
}

/// Opens shard 0 of a one-shard broker on `disk` (see [`open_shards`]).
async fn open_shard(
    shared: &Arc<BrokerShared>,
    disk: &MemStorage,
    clock: &SharedClock,
) -> Rc<Shard<MemStorage>> {
    let (mut shards, _) = open_shards(shared, std::slice::from_ref(disk), clock).await;
    shards.pop().expect("one shard")
}

/// Opens a broker of one shard per disk as the runtime does (mesh, store,
/// shard), each store under `/data`, the shards joined by the in-memory
/// mesh, each draining its inbox in a task of its own. Also returns how
/// many parcels each shard's inbox brought.
async fn open_shards(
    shared: &Arc<BrokerShared>,
    disks: &[MemStorage],
    clock: &SharedClock,
) -> (Vec<Rc<Shard<MemStorage>>>, Rc<Vec<Cell<usize>>>) {
    let ends = local_mesh::<Parcel<MemStorage>>(disks.len(), MESH_CHANNEL_CAPACITY);
    let parcels: Rc<Vec<Cell<usize>>> = Rc::new(disks.iter().map(|_| Cell::new(0)).collect());
    let mut shards = Vec::new();
    for (k, (disk, (mesh, inbox))) in disks.iter().zip(ends).enumerate() {
        let shard = open_on_mesh(shared, disk, clock, mesh).await;
        let weak = Rc::downgrade(&shard);
        let counted = parcels.clone();
        glommio::spawn_local(async move {
            while let Some(parcel) = inbox.recv().await {
                counted[k].set(counted[k].get() + 1);
                for envelope in parcel {
                    let Some(work) = weak.upgrade().and_then(|s| s.receive(envelope)) else {
                        continue;
                    };
                    glommio::spawn_local(work).detach();
                }
            }
        })
        .detach();
        shards.push(shard);
    }
    (shards, parcels)
}

/// Opens the shard at `mesh`'s end, its store on `disk` under `/data`.
async fn open_on_mesh(
    shared: &Arc<BrokerShared>,
    disk: &MemStorage,
    clock: &SharedClock,
    mesh: LocalMesh<Parcel<MemStorage>>,
) -> Rc<Shard<MemStorage>> {
    let id = ShardId(mesh.peer_id() as u16);
    let config = store_config(&shared.config);
    let (store, _report) = ShardStore::open(disk.clone(), config, Path::new("/data"), id)
        .await
        .expect("open the store");
    let host: SocketAddr = "127.0.0.1:10911".parse().unwrap();
    let replica = ShardReplica::in_memory(0, 0);
    Shard::new(
        id,
        shared.clone(),
        store,
        host,
        mesh,
        clock.clone(),
        replica,
    )
}

fn send_request(body: &[u8]) -> RemotingCommand {
    send_request_to(0, body)
}

/// A send into `queue` of the topic, which a first send creates with
/// [`QUEUES`] queues.
fn send_request_to(queue: i32, body: &[u8]) -> RemotingCommand {
    let header = SendMessageRequestHeader {
        producer_group: "InMemoryProducer".into(),
        topic: TOPIC.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: QUEUES as i32,
        queue_id: queue,
        sys_flag: 0,
        born_timestamp: START_MS,
        flag: 0,
        properties: None,
        reconsume_times: Some(0),
        unit_mode: Some(false),
        max_reconsume_times: None,
        batch: Some(false),
        broker_name: None,
    };
    let mut cmd = RemotingCommand::request(request_code::SEND_MESSAGE_V2).with_body(body.to_vec());
    header.to_v2(&mut cmd.ext_fields);
    cmd
}

/// A pull of `queue` from `offset`, held up to `hold_ms` when it finds
/// nothing (0: answered at once).
fn pull_request(queue: i32, offset: i64, hold_ms: i64) -> RemotingCommand {
    let suspend = if hold_ms > 0 {
        pull_sys_flag::SUSPEND
    } else {
        0
    };
    let header = PullMessageRequestHeader {
        consumer_group: GROUP.into(),
        topic: TOPIC.into(),
        queue_id: queue,
        queue_offset: offset,
        max_msg_nums: 32,
        sys_flag: pull_sys_flag::SUBSCRIPTION | suspend,
        commit_offset: 0,
        suspend_timeout_millis: hold_ms,
        subscription: Some("*".into()),
        sub_version: 0,
        expression_type: Some("TAG".into()),
        max_msg_bytes: None,
        broker_name: None,
    };
    RemotingCommand::request(request_code::PULL_MESSAGE).with_header(&header)
}

/// Pulls queue 0 from `offset`: every record's (queue offset, store
/// timestamp, body).
async fn pull(shard: &Rc<Shard<MemStorage>>, peer: &Peer, offset: i64) -> Vec<(u64, i64, Vec<u8>)> {
    pull_queue(shard, peer, 0, offset, 0).await
}

/// Pulls `queue` from `offset`, held up to `hold_ms`: every record's
/// (queue offset, store timestamp, body).
async fn pull_queue(
    shard: &Rc<Shard<MemStorage>>,
    peer: &Peer,
    queue: i32,
    offset: i64,
    hold_ms: i64,
) -> Vec<(u64, i64, Vec<u8>)> {
    let response = dispatch(shard, peer, &pull_request(queue, offset, hold_ms)).await;
    assert_eq!(
        response.code,
        response_code::SUCCESS,
        "{:?}",
        response.remark
    );
    let mut records = Vec::new();
    let mut rest = &response.body[..];
    while !rest.is_empty() {
        let record = RecordView::parse(rest).expect("a whole record");
        let entry = (
            record.queue_offset().0,
            record.store_timestamp(),
            record.body().to_vec(),
        );
        records.push(entry);
        rest = &rest[record.total_size()..];
    }
    records
}

#[test]
fn an_acknowledged_send_survives_a_process_crash() {
    in_broker(1, |b| async move {
        let Setup {
            dir,
            manual,
            clock,
            shared,
            disks,
            peer,
        } = b;
        let disk = disks[0].clone();
        let shard = open_shard(&shared, &disk, &clock).await;

        manual.advance(5);
        let sent = dispatch(&shard, &peer, &send_request(b"hello")).await;
        assert_eq!(sent.code, response_code::SUCCESS, "{:?}", sent.remark);
        let ack: SendMessageResponseHeader = sent.decode_header().unwrap();
        assert_eq!((ack.queue_id, ack.queue_offset), (0, 0));
        let before = pull(&shard, &peer, 0).await;
        // The store stamped the record with the manual clock.
        assert_eq!(before, vec![(0, START_MS + 5, b"hello".to_vec())]);

        // kill -9: the page cache survives, the process does not.
        let disk = disk.kill();
        drop(shard);
        drop(shared);
        manual.advance(1_000);
        let shared = Arc::new(BrokerShared::load(broker_config(&dir), clock.as_ref()).unwrap());
        assert_eq!(shared.boot_timestamp_ms, START_MS + 1_005);
        let shard = open_shard(&shared, &disk, &clock).await;
        assert_eq!(pull(&shard, &peer, 0).await, before);
    });
}

/// A delay level's stored offset past the end of its queue (a crash the
/// flush mode does not cover cut the queue) is corrected to the end before
/// the scheduler reads on, so messages that reuse the cut positions are not
/// skipped.
#[test]
fn a_delay_offset_past_its_queue_is_corrected() {
    in_broker(1, |b| async move {
        let shared = b.shared.clone();
        let shard = open_shard(&shared, &b.disks[0], &b.clock).await;
        shared.set_delay_offset(1, 40);
        shared.set_delay_offset(2, 0);
        let schedulers = bolide_broker::schedule::spawn_level_schedulers(&shard);
        assert!(!schedulers.is_empty());
        futures_lite::future::yield_now().await;
        assert_eq!((shared.delay_offset(1), shared.delay_offset(2)), (0, 0));
        schedulers.iter().for_each(|s| s.cancel());
    });
}

/// Two shards of one broker, joined by the in-memory mesh: every queue is
/// served through either shard, whichever owns it. A pull held through
/// shard 0 parks on the owner and is woken by a send through shard 0; both
/// shards see the same bounds and read the same record by its offset; a
/// call to a shard that does not exist fails instead of waiting.
#[test]
fn two_shards_serve_each_others_queues_over_the_mesh() {
    in_broker(2, |b| async move {
        let (manual, peer) = (b.manual.clone(), b.peer);
        let (shards, _) = open_shards(&b.shared, &b.disks, &b.clock).await;
        let sent = dispatch(&shards[0], &peer, &send_request_to(0, b"first")).await;
        assert_eq!(sent.code, response_code::SUCCESS, "{:?}", sent.remark);
        let owners: Vec<u16> = (0..QUEUES).map(|q| shards[0].owner(TOPIC, q).0).collect();
        assert!(owners.contains(&0) && owners.contains(&1), "{owners:?}");
        let remote = owners.iter().position(|o| *o == 1).unwrap() as i32;

        // Held on shard 1, asked through shard 0.
        let asker = shards[0].clone();
        let held = async move { pull_queue(&asker, &peer, remote, 0, 10_000).await };
        let held = glommio::spawn_local(held);
        for _ in 0..3 {
            futures_lite::future::yield_now().await;
        }
        manual.advance(3);
        let sent = dispatch(&shards[0], &peer, &send_request_to(remote, b"woken")).await;
        assert_eq!(sent.code, response_code::SUCCESS, "{:?}", sent.remark);
        let woken = vec![(0, START_MS + 3, b"woken".to_vec())];
        assert_eq!(held.await, woken);

        for q in 0..QUEUES as i32 {
            let body = format!("q{q}");
            let via = &shards[q as usize % 2];
            let sent = dispatch(via, &peer, &send_request_to(q, body.as_bytes())).await;
            assert_eq!(sent.code, response_code::SUCCESS, "{:?}", sent.remark);
            let ack: SendMessageResponseHeader = sent.decode_header().unwrap();
            let at = OffsetMsgId::decode(&ack.msg_id).unwrap().offset;
            assert_eq!(at.shard().0, owners[q as usize]);
            let records = pull_queue(&shards[0], &peer, q, 0, 0).await;
            assert_eq!(pull_queue(&shards[1], &peer, q, 0, 0).await, records);
            assert_eq!(records.last().unwrap().2, body.as_bytes());
            for shard in &shards {
                let end = records.len() as u64;
                assert_eq!(shard.bounds(TOPIC, q as u32).await, (0, end));
                let bytes = shard.read_record(at.shard(), at.physical()).await.unwrap();
                assert_eq!(RecordView::parse(&bytes).unwrap().body(), body.as_bytes());
            }
        }
        let nowhere = shards[0].read_record(ShardId(2), PhysicalOffset(0)).await;
        assert!(
            matches!(nowhere, Err(StoreError::Unavailable(_))),
            "{nowhere:?}"
        );
    });
}

/// What a test's broker starts from: its config directory, a manual clock
/// at [`START_MS`], the shared state, one in-memory disk per shard (on that
/// clock) and a client.
struct Setup {
    dir: std::path::PathBuf,
    manual: Arc<ManualClock>,
    clock: SharedClock,
    shared: Arc<BrokerShared>,
    disks: Vec<MemStorage>,
    peer: Peer,
}

/// Runs `test` on a fresh executor with a broker of `shards` disks.
fn in_broker<F, Fut>(shards: usize, test: F)
where
    F: FnOnce(Setup) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            let manual = Arc::new(ManualClock::new(START_MS));
            let clock: SharedClock = manual.clone();
            let shared = Arc::new(BrokerShared::load(broker_config(&dir), clock.as_ref()).unwrap());
            let disks = (0..shards)
                .map(|_| MemStorage::new(1 << 30).with_clock(clock.clone()))
                .collect();
            let peer = Peer {
                conn_id: 1,
                addr: "127.0.0.1:40000".parse().unwrap(),
            };
            test(Setup {
                dir,
                manual,
                clock,
                shared,
                disks,
                peer,
            })
            .await;
        })
        .expect("spawn executor")
        .join()
        .expect("executor thread");
}

#[test]
fn requests_of_one_turn_cross_the_mesh_as_one_parcel_in_order() {
    in_broker(2, |b| async move {
        let (shards, parcels) = open_shards(&b.shared, &b.disks, &b.clock).await;
        let peer = b.peer;
        let created = dispatch(&shards[0], &peer, &send_request_to(0, b"create")).await;
        assert_eq!(created.code, response_code::SUCCESS, "{:?}", created.remark);
        let remote = (0..QUEUES)
            .find(|q| shards[0].owner(TOPIC, *q).0 == 1)
            .expect("a queue of shard 1") as i32;
        let before = parcels[1].get();

        // Sixteen sends that one socket read could have brought, each in
        // its task as the transport runs them.
        let sends: Vec<_> = (0..16)
            .map(|i| {
                let (shard, peer) = (shards[0].clone(), peer);
                let request = send_request_to(remote, format!("m{i}").as_bytes());
                glommio::spawn_local(async move { dispatch(&shard, &peer, &request).await })
            })
            .collect();
        for send in sends {
            let sent = send.await;
            assert_eq!(sent.code, response_code::SUCCESS, "{:?}", sent.remark);
        }
        assert_eq!(parcels[1].get() - before, 1, "one parcel carried them all");
        assert_eq!(parcels[0].get(), 1, "and one brought every reply back");
        let bodies: Vec<Vec<u8>> = pull_queue(&shards[0], &peer, remote, 0, 0)
            .await
            .into_iter()
            .map(|(_, _, body)| body)
            .collect();
        let expected: Vec<Vec<u8>> = (0..16).map(|i| format!("m{i}").into_bytes()).collect();
        assert_eq!(
            bodies, expected,
            "stored in the order the sends were posted"
        );
    });
}

#[test]
fn a_call_whose_parcel_cannot_arrive_is_answered_not_left_waiting() {
    in_broker(2, |b| async move {
        let mut ends = local_mesh::<Parcel<MemStorage>>(2, MESH_CHANNEL_CAPACITY);
        // Shard 1 is gone: its inbox dropped, nothing will ever answer.
        drop(ends.pop());
        let (mesh, _inbox) = ends.pop().expect("shard 0's end");
        let shard = open_on_mesh(&b.shared, &b.disks[0], &b.clock, mesh).await;
        let peer = b.peer;
        let remote = (0..QUEUES)
            .find(|q| shard.owner(TOPIC, *q).0 == 1)
            .expect("a queue of shard 1") as i32;
        let answer = glommio::timer::timeout(std::time::Duration::from_secs(5), async {
            Ok(dispatch(&shard, &peer, &send_request_to(remote, b"lost")).await)
        })
        .await
        .expect("answered, not left waiting");
        assert_ne!(answer.code, response_code::SUCCESS);
        let remark = answer.remark.unwrap_or_default();
        assert!(remark.contains("shard 1"), "{remark}");
    });
}
