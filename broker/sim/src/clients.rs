//! The simulated clients: state machines that turn "act now" and "this
//! frame arrived" into frames to send, the way a RocketMQ client library
//! does. Each finds the broker through the NameServer, keeps one
//! connection to it, matches answers by `opaque`, gives up on a request
//! after [`REQUEST_TIMEOUT_MS`] and reconnects after a reset.
//!
//! * [`Producer`]: a window of sync sends; every message is retried until
//!   acknowledged (an application's retry loop around RocketMQ's), so a
//!   retried message may be stored twice — the documented at-least-once.
//! * [`Consumer`]: pulls its share of the queues (queue % consumers), with
//!   and without long polling, commits offsets now and then, and resumes
//!   from the broker's stored offsets after a restart. It checks per-queue
//!   order as it reads. Consumer 0 also reads the group's retry topic and
//!   DLQ; what the application fails on is sent back ([`crate::retry`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bolide_proto::body::route::TopicRouteData;
use bolide_proto::codes::{pull_sys_flag, request_code, response_code};
use bolide_proto::delay::DelayLevels;
use bolide_proto::header::namesrv::GetRouteInfoRequestHeader;
use bolide_proto::header::offset::{
    OffsetResponseHeader, QueryConsumerOffsetRequestHeader, UpdateConsumerOffsetRequestHeader,
};
use bolide_proto::header::pull::{PullMessageRequestHeader, PullMessageResponseHeader};
use bolide_proto::header::send::{SendMessageRequestHeader, SendMessageResponseHeader};
use bolide_proto::message::{property, push_property, RecordView};
use bolide_proto::RemotingCommand;
use bolide_store::io::mem::SplitMix;

use crate::ledger::{Ledger, MessageKey};
use crate::net::{ConnId, Network, Node};
use crate::retry::{self, SendBack, DLQ_Q, RETRY_Q};

pub const TOPIC: &str = "SimTopic";
pub const GROUP: &str = "SimGroup";
/// How long a client waits for an answer before giving up on it.
pub const REQUEST_TIMEOUT_MS: u64 = 3_000;

/// What a client needs to act: the network, the ledger, the seed's
/// generator and the time.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub net: &'a mut Network,
    pub ledger: &'a mut Ledger,
    pub rng: &'a mut SplitMix,
    pub now: u64,
    /// Crashes so far that may have cut the log (the flush mode's
    /// unflushed tail): a consumer's offset may go back only past one.
    pub cuts: u32,
}

/// A client's connections and request numbering, shared by both kinds.
#[derive(Debug)]
struct Link {
    me: Node,
    broker: Option<ConnId>,
    namesrv: Option<ConnId>,
    next_opaque: i32,
    /// Queue count from the route, once known.
    queues: Option<u32>,
    route_asked: Option<(i32, u64)>,
}

impl Link {
    fn new(me: Node) -> Self {
        Link {
            me,
            broker: None,
            namesrv: None,
            next_opaque: 1,
            queues: None,
            route_asked: None,
        }
    }

    fn opaque(&mut self) -> i32 {
        self.next_opaque += 1;
        self.next_opaque
    }

    /// Asks the NameServer for the topic's route unless known or asked.
    /// True while there is no route to act on.
    fn needs_route(&mut self, ctx: &mut Ctx) -> bool {
        if self.queues.is_some() {
            return false;
        }
        if self.route_asked.is_some() {
            return true;
        }
        let conn = match self.namesrv.filter(|c| ctx.net.is_open(*c)) {
            Some(conn) => conn,
            None => *self.namesrv.insert(ctx.net.connect(self.me, Node::Namesrv)),
        };
        let header = GetRouteInfoRequestHeader {
            topic: TOPIC.into(),
            accept_standard_json_only: None,
        };
        let opaque = self.opaque();
        let request = RemotingCommand::request(request_code::GET_ROUTEINFO_BY_TOPIC)
            .with_header(&header)
            .with_opaque(opaque);
        ctx.net
            .send(conn, Node::Namesrv, &request, ctx.now, ctx.rng);
        self.route_asked = Some((opaque, ctx.now));
        true
    }

    /// Takes a route answer; true if `response` was one.
    fn on_route(&mut self, response: &RemotingCommand) -> bool {
        if self.route_asked.map(|(o, _)| o) != Some(response.opaque) {
            return false;
        }
        self.route_asked = None;
        if response.code == response_code::SUCCESS {
            let route =
                TopicRouteData::decode(&response.body).expect("a route the NameServer encoded");
            self.queues = route
                .queue_datas
                .first()
                .map(|q| q.write_queue_nums as u32)
                .filter(|n| *n > 0);
        }
        true
    }

    /// The broker connection, opened if needed.
    fn broker_conn(&mut self, net: &mut Network) -> ConnId {
        match self.broker.filter(|c| net.is_open(*c)) {
            Some(conn) => conn,
            None => *self.broker.insert(net.connect(self.me, Node::Broker)),
        }
    }

    fn send(&mut self, ctx: &mut Ctx, request: RemotingCommand) -> i32 {
        let opaque = self.opaque();
        let conn = self.broker_conn(ctx.net);
        ctx.net.send(
            conn,
            Node::Broker,
            &request.with_opaque(opaque),
            ctx.now,
            ctx.rng,
        );
        opaque
    }

    /// Forgets a route request that timed out (or whose connection broke).
    fn expire_route(&mut self, now: u64, closed: Option<ConnId>) {
        let broken = closed.is_some() && closed == self.namesrv;
        if self
            .route_asked
            .is_some_and(|(_, at)| broken || now >= at + REQUEST_TIMEOUT_MS)
        {
            self.route_asked = None;
        }
    }
}

/// A send waiting for its answer.
#[derive(Debug, Clone, Copy)]
struct PendingSend {
    key: MessageKey,
    conn: ConnId,
    at: u64,
    /// Delay level (0: none).
    delay: u32,
}

/// One message in eight is delayed, by level 1, 2 or 3 (1 s, 5 s, 10 s).
fn delay_level(key: MessageKey) -> u32 {
    match key.seq % 8 {
        0 => 1 + (key.seq / 8 % 3) as u32,
        _ => 0,
    }
}

/// A producer with a window of sync sends.
#[derive(Debug)]
pub struct Producer {
    id: u32,
    link: Link,
    window: usize,
    next_seq: u64,
    next_queue: u32,
    pending: BTreeMap<i32, PendingSend>,
    retry: VecDeque<MessageKey>,
    /// Messages sent and not yet acknowledged.
    unacked: BTreeSet<MessageKey>,
}

impl Producer {
    pub fn new(id: usize, window: usize) -> Self {
        Producer {
            id: id as u32,
            link: Link::new(Node::Producer(id)),
            window,
            next_seq: 0,
            next_queue: id as u32,
            pending: BTreeMap::new(),
            retry: VecDeque::new(),
            unacked: BTreeSet::new(),
        }
    }

    /// Messages not yet acknowledged.
    pub fn unacked(&self) -> usize {
        self.unacked.len()
    }

    /// Sends one message (a retry first) if the window has room;
    /// `new_messages` is false once the run winds down.
    pub fn act(&mut self, ctx: &mut Ctx, new_messages: bool) {
        if self.link.needs_route(ctx) || self.pending.len() >= self.window {
            return;
        }
        let key = match self.retry.pop_front() {
            Some(key) => key,
            None if new_messages => {
                self.next_seq += 1;
                MessageKey {
                    producer: self.id,
                    seq: self.next_seq,
                }
            }
            None => return,
        };
        let queues = self.link.queues.unwrap_or(1);
        self.next_queue = (self.next_queue + 1) % queues;
        let delay = delay_level(key);
        let request = send_request(key, self.next_queue, delay);
        ctx.ledger.sent(key, ctx.now);
        self.unacked.insert(key);
        let opaque = self.link.send(ctx, request);
        let conn = self.link.broker.expect("just connected");
        let pending = PendingSend {
            key,
            conn,
            at: ctx.now,
            delay,
        };
        self.pending.insert(opaque, pending);
    }

    /// An answer arrived.
    pub fn on_response(&mut self, ctx: &mut Ctx, response: &RemotingCommand) -> Result<(), String> {
        if self.link.on_route(response) {
            return Ok(());
        }
        let Some(sent) = self.pending.remove(&response.opaque) else {
            return Ok(()); // given up on already
        };
        match response.code {
            response_code::SUCCESS => {
                let header: SendMessageResponseHeader =
                    response.decode_header().map_err(|e| e.to_string())?;
                let at = (header.queue_id as u32, header.queue_offset as u64);
                self.unacked.remove(&sent.key);
                if sent.delay == 0 {
                    return ctx.ledger.acked(sent.key, at);
                }
                let delay_ms = DelayLevels::default().delay_ms(sent.delay);
                ctx.ledger.acked_delayed(sent.key, delay_ms, ctx.cuts);
                Ok(())
            }
            response_code::TOPIC_NOT_EXIST => {
                self.link.queues = None;
                self.retry.push_back(sent.key);
                Ok(())
            }
            _ => {
                self.retry.push_back(sent.key);
                Ok(())
            }
        }
    }

    /// Gives up on answers overdue by `now` or lost with `closed`.
    pub fn expire(&mut self, now: u64, closed: Option<ConnId>) {
        self.link.expire_route(now, closed);
        let lost: Vec<i32> = self
            .pending
            .iter()
            .filter(|(_, p)| Some(p.conn) == closed || now >= p.at + REQUEST_TIMEOUT_MS)
            .map(|(o, _)| *o)
            .collect();
        for opaque in lost {
            let sent = self.pending.remove(&opaque).expect("listed");
            self.retry.push_back(sent.key);
        }
    }
}

fn send_request(key: MessageKey, queue: u32, delay: u32) -> RemotingCommand {
    let mut properties = String::new();
    push_property(&mut properties, property::UNIQ_KEY, &retry::uniq_key(key));
    if delay > 0 {
        push_property(&mut properties, property::DELAY, &delay.to_string());
    }
    let header = SendMessageRequestHeader {
        producer_group: "SimProducers".into(),
        topic: TOPIC.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: queue as i32,
        sys_flag: 0,
        born_timestamp: 0,
        flag: 0,
        properties: Some(properties),
        reconsume_times: Some(0),
        unit_mode: Some(false),
        max_reconsume_times: None,
        batch: Some(false),
        broker_name: None,
    };
    let mut request = RemotingCommand::request(request_code::SEND_MESSAGE_V2).with_body(key.body());
    header.to_v2(&mut request.ext_fields);
    request
}

/// What a consumer asked the broker about a queue.
#[derive(Debug, Clone, Copy)]
enum Ask {
    Offset,
    Pull { offset: u64 },
    Commit { offset: u64 },
    SendBack(SendBack),
}

/// The queue number of a send-back in flight (one at a time).
const SENDING_BACK: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct PendingAsk {
    queue: u32,
    ask: Ask,
    conn: ConnId,
    at: u64,
}

/// Where a consumer is in one queue.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    next: u64,
    /// Cuts seen when the broker last confirmed `next` by a read (0 for a
    /// stored offset, which may predate any cut).
    cuts: u32,
}

/// A pull consumer of one group, owning queue % consumers == id.
#[derive(Debug)]
pub struct Consumer {
    id: usize,
    consumers: usize,
    link: Link,
    cursors: BTreeMap<u32, Cursor>,
    /// At most one request per queue in flight.
    pending: BTreeMap<i32, PendingAsk>,
    restarts: u64,
    /// Failed deliveries to send back, in order.
    backlog: VecDeque<SendBack>,
}

impl Consumer {
    pub fn new(id: usize, consumers: usize) -> Self {
        Consumer {
            id,
            consumers,
            link: Link::new(Node::Consumer(id)),
            cursors: BTreeMap::new(),
            pending: BTreeMap::new(),
            restarts: 0,
            backlog: VecDeque::new(),
        }
    }

    fn my_queues(&self) -> Vec<u32> {
        let n = self.link.queues.unwrap_or(0);
        let side = [RETRY_Q, DLQ_Q].into_iter().filter(|_| self.id == 0);
        (0..n)
            .filter(|q| *q as usize % self.consumers == self.id)
            .chain(side)
            .collect()
    }

    fn busy(&self, queue: u32) -> bool {
        self.pending.values().any(|p| p.queue == queue)
    }

    /// Where this consumer stands: `(queue, next offset)`.
    pub fn positions(&self) -> Vec<(u32, u64)> {
        self.cursors.iter().map(|(q, c)| (*q, c.next)).collect()
    }

    /// Whether every owned queue has reached `ends[queue]`, with nothing
    /// left to send back.
    pub fn caught_up(&self, ends: &BTreeMap<u32, u64>) -> bool {
        self.link.queues.is_some()
            && self.backlog.is_empty()
            && !self.busy(SENDING_BACK)
            && self.my_queues().iter().all(|q| {
                let end = ends.get(q).copied().unwrap_or(0);
                self.cursors.get(q).is_some_and(|c| c.next >= end)
            })
    }

    /// Works one idle queue: asks where to start, or pulls (sometimes with
    /// long polling), or, if `commit`, commits its position.
    pub fn act(&mut self, ctx: &mut Ctx, commit: bool) {
        if self.link.needs_route(ctx) || self.send_back(ctx) {
            return;
        }
        let idle: Vec<u32> = self
            .my_queues()
            .into_iter()
            .filter(|q| !self.busy(*q))
            .collect();
        if idle.is_empty() {
            return;
        }
        let queue = idle[ctx.rng.below(idle.len() as u64) as usize];
        let (ask, request) = match self.cursors.get(&queue) {
            None => (Ask::Offset, query_offset_request(queue)),
            Some(c) if commit && queue < RETRY_Q => {
                ctx.ledger.commit_asked(queue, c.next);
                (
                    Ask::Commit { offset: c.next },
                    commit_request(queue, c.next),
                )
            }
            Some(c) => {
                let hold_ms = [0, 0, 200, 1_000][ctx.rng.below(4) as usize];
                (
                    Ask::Pull { offset: c.next },
                    pull_request(queue, c.next, hold_ms),
                )
            }
        };
        self.ask(ctx, queue, ask, request);
    }

    fn ask(&mut self, ctx: &mut Ctx, queue: u32, ask: Ask, request: RemotingCommand) {
        let opaque = self.link.send(ctx, request);
        let conn = self.link.broker.expect("just connected");
        let at = ctx.now;
        self.pending.insert(
            opaque,
            PendingAsk {
                queue,
                ask,
                conn,
                at,
            },
        );
    }

    /// Sends the next failed delivery back, unless one is in flight; true
    /// if it did.
    fn send_back(&mut self, ctx: &mut Ctx) -> bool {
        if self.busy(SENDING_BACK) {
            return false;
        }
        let Some(back) = self.backlog.pop_front() else {
            return false;
        };
        ctx.ledger.back_asked(back.key, back.times, ctx.now);
        self.ask(ctx, SENDING_BACK, Ask::SendBack(back), back.request());
        true
    }

    fn on_send_back(&mut self, ctx: &mut Ctx, mut back: SendBack, response: &RemotingCommand) {
        if response.code == response_code::SUCCESS {
            ctx.ledger.back_acked(back.key, back.times, back.cuts);
            return;
        }
        // Refused (a full disk, a stopped store, an offset a cut reused):
        // tried again, a few times.
        back.tries += 1;
        if back.tries < retry::SEND_BACK_TRIES {
            self.backlog.push_back(back);
        }
    }

    /// A restart: positions forgotten, connection dropped; it resumes from
    /// the broker's stored offsets.
    pub fn restart(&mut self, net: &mut Network) {
        if let Some(conn) = self.link.broker.take() {
            net.break_conn(conn);
        }
        self.cursors.clear();
        self.pending.clear();
        self.backlog.clear();
        self.restarts += 1;
    }

    pub fn on_response(&mut self, ctx: &mut Ctx, response: &RemotingCommand) -> Result<(), String> {
        if self.link.on_route(response) {
            return Ok(());
        }
        let Some(asked) = self.pending.remove(&response.opaque) else {
            return Ok(());
        };
        match asked.ask {
            Ask::Offset => self.on_offset(ctx, asked.queue, response),
            Ask::Pull { offset } => self.on_pull(ctx, asked.queue, offset, response),
            Ask::Commit { offset } => {
                if response.code == response_code::SUCCESS {
                    ctx.ledger.committed(asked.queue, offset);
                }
                Ok(())
            }
            Ask::SendBack(back) => {
                self.on_send_back(ctx, back, response);
                Ok(())
            }
        }
    }

    fn on_offset(
        &mut self,
        ctx: &mut Ctx,
        queue: u32,
        response: &RemotingCommand,
    ) -> Result<(), String> {
        let next = match response.code {
            response_code::SUCCESS => {
                let header: OffsetResponseHeader =
                    response.decode_header().map_err(|e| e.to_string())?;
                header.offset.max(0) as u64
            }
            // No stored offset: start at the beginning.
            response_code::QUERY_NOT_FOUND => 0,
            _ => return Ok(()), // asked again on the next turn
        };
        ctx.ledger.resumed(queue, next)?;
        let cursor = Cursor { next, cuts: 0 };
        self.cursors.insert(queue, cursor);
        Ok(())
    }

    fn on_pull(
        &mut self,
        ctx: &mut Ctx,
        queue: u32,
        offset: u64,
        response: &RemotingCommand,
    ) -> Result<(), String> {
        let Some(cursor) = self
            .cursors
            .get(&queue)
            .copied()
            .filter(|c| c.next == offset)
        else {
            return Ok(()); // restarted since
        };
        if response.code == response_code::SYSTEM_ERROR {
            // Never an answer to a well-formed pull of a healthy store.
            return Err(format!(
                "queue {queue} pulled at {offset}: {:?}",
                response.remark
            ));
        }
        let header: PullMessageResponseHeader = match response.decode_header() {
            Ok(header) => header,
            Err(_) => return Ok(()), // another refusal: pull again
        };
        let next = header.next_begin_offset.max(0) as u64;
        let at = format!("queue {queue} pulled at {offset}");
        match response.code {
            response_code::SUCCESS => {
                let (last, backs) = match queue {
                    RETRY_Q | DLQ_Q => {
                        let (now, cuts) = (ctx.now, ctx.cuts);
                        retry::read_side(ctx.ledger, now, cuts, queue, offset, &response.body)
                    }
                    _ => read_records(ctx, queue, offset, &response.body),
                }
                .map_err(|e| format!("{at}: {e}"))?;
                self.backlog.extend(backs);
                if next != last + 1 {
                    return Err(format!("{at}: next {next} after the last record {last}"));
                }
            }
            response_code::PULL_NOT_FOUND
            | response_code::PULL_RETRY_IMMEDIATELY
            | response_code::PULL_OFFSET_MOVED => {
                if next < offset && cursor.cuts == ctx.cuts {
                    return Err(format!(
                        "{at}: moved back to {next} with no cut of the log since"
                    ));
                }
            }
            _ => return Ok(()),
        }
        let cursor = Cursor {
            next,
            cuts: ctx.cuts,
        };
        self.cursors.insert(queue, cursor);
        Ok(())
    }

    /// Gives up on answers overdue by `now` or lost with `closed`.
    pub fn expire(&mut self, now: u64, closed: Option<ConnId>) {
        self.link.expire_route(now, closed);
        let lost = |p: &PendingAsk| Some(p.conn) == closed || now >= p.at + REQUEST_TIMEOUT_MS;
        for p in self.pending.values().filter(|p| lost(p)) {
            if let Ask::SendBack(back) = p.ask {
                self.backlog.push_back(back);
            }
        }
        self.pending.retain(|_, p| !lost(p));
    }

    pub fn restarts(&self) -> u64 {
        self.restarts
    }
}

/// Checks and records the records of a FOUND answer; the last offset, and
/// what the application fails on.
fn read_records(
    ctx: &mut Ctx,
    queue: u32,
    first: u64,
    mut rest: &[u8],
) -> Result<(u64, Vec<SendBack>), String> {
    let mut expected = first;
    let mut backs = Vec::new();
    while !rest.is_empty() {
        let record = RecordView::parse(rest).map_err(|e| format!("bad record: {e}"))?;
        let offset = record.queue_offset().0;
        if offset != expected || record.queue_id() != queue {
            return Err(format!(
                "record {}/{offset} where {queue}/{expected} was due",
                record.queue_id()
            ));
        }
        ctx.ledger
            .delivered((queue, offset), record.body(), ctx.now)?;
        let key = MessageKey::parse(record.body())?;
        backs.extend(SendBack::of(key, &record, ctx.cuts));
        rest = &rest[record.total_size()..];
        expected += 1;
    }
    if expected == first {
        return Err("FOUND with no record".into());
    }
    Ok((expected - 1, backs))
}

fn pull_request(queue: u32, offset: u64, hold_ms: u64) -> RemotingCommand {
    let mut flags = pull_sys_flag::SUBSCRIPTION;
    if hold_ms > 0 {
        flags |= pull_sys_flag::SUSPEND;
    }
    let (topic, queue) = retry::topic_of(queue);
    let header = PullMessageRequestHeader {
        consumer_group: GROUP.into(),
        topic: topic.into(),
        queue_id: queue as i32,
        queue_offset: offset as i64,
        max_msg_nums: 16,
        sys_flag: flags,
        commit_offset: 0,
        suspend_timeout_millis: hold_ms as i64,
        subscription: Some("*".into()),
        sub_version: 0,
        expression_type: Some("TAG".into()),
        max_msg_bytes: None,
        broker_name: None,
    };
    RemotingCommand::request(request_code::PULL_MESSAGE).with_header(&header)
}

fn query_offset_request(queue: u32) -> RemotingCommand {
    let (topic, queue) = retry::topic_of(queue);
    let header = QueryConsumerOffsetRequestHeader {
        consumer_group: GROUP.into(),
        topic: topic.into(),
        queue_id: queue as i32,
        set_zero_if_not_found: None,
    };
    RemotingCommand::request(request_code::QUERY_CONSUMER_OFFSET).with_header(&header)
}

fn commit_request(queue: u32, offset: u64) -> RemotingCommand {
    let header = UpdateConsumerOffsetRequestHeader {
        consumer_group: GROUP.into(),
        topic: TOPIC.into(),
        queue_id: queue as i32,
        commit_offset: offset as i64,
    };
    RemotingCommand::request(request_code::UPDATE_CONSUMER_OFFSET).with_header(&header)
}
