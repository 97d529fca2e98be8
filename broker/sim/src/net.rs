//! The simulated network: TCP-like connections between the nodes of one
//! run, carrying encoded remoting frames.
//!
//! Each connection delivers in order in each direction, as TCP does, each
//! frame after a latency the seed picks; so frames on different connections
//! overtake each other, and the broker, answering concurrent requests on
//! one connection as they finish, answers out of order. A fault *breaks* a
//! connection: the frames in flight on it are lost and both ends see it
//! closed (a reset is how a lost packet reaches a RocketMQ client: its
//! requests fail and it reconnects).

use std::collections::BTreeMap;

use bolide_proto::frame::{decode_frame, MAX_FRAME_BYTES};
use bolide_proto::RemotingCommand;
use bolide_store::io::mem::SplitMix;
use bytes::Bytes;

/// A connection's number; never reused within a run.
pub type ConnId = u64;

/// One end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Node {
    Producer(usize),
    Consumer(usize),
    Broker,
    Namesrv,
}

/// A frame that reached its destination.
#[derive(Debug)]
pub struct Delivery {
    pub conn: ConnId,
    pub from: Node,
    pub to: Node,
    pub command: RemotingCommand,
}

#[derive(Debug)]
struct Conn {
    ends: [Node; 2],
    open: bool,
    /// Delivery time of the last frame sent towards each end (TCP order).
    last_at: [u64; 2],
}

#[derive(Debug)]
struct InFlight {
    conn: ConnId,
    from: Node,
    to: Node,
    frame: Bytes,
}

/// Every connection and every frame in flight.
#[derive(Debug)]
pub struct Network {
    conns: BTreeMap<ConnId, Conn>,
    next_conn: ConnId,
    /// Keyed by (delivery time, send order).
    in_flight: BTreeMap<(u64, u64), InFlight>,
    sent: u64,
    max_latency_ms: u64,
}

impl Network {
    pub fn new(max_latency_ms: u64) -> Self {
        Network {
            conns: BTreeMap::new(),
            next_conn: 1,
            in_flight: BTreeMap::new(),
            sent: 0,
            max_latency_ms,
        }
    }

    /// Opens a connection from `from` to `to`.
    pub fn connect(&mut self, from: Node, to: Node) -> ConnId {
        let id = self.next_conn;
        self.next_conn += 1;
        let conn = Conn {
            ends: [from, to],
            open: true,
            last_at: [0, 0],
        };
        self.conns.insert(id, conn);
        id
    }

    pub fn is_open(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_some_and(|c| c.open)
    }

    /// Sends `command` over `conn` towards `to`; false if the connection is
    /// closed (the frame is dropped, as a write to a reset socket fails).
    pub fn send(
        &mut self,
        conn: ConnId,
        to: Node,
        command: &RemotingCommand,
        now: u64,
        rng: &mut SplitMix,
    ) -> bool {
        let latency = rng.below(self.max_latency_ms + 1);
        let Some(c) = self.conns.get_mut(&conn).filter(|c| c.open) else {
            return false;
        };
        let end = usize::from(c.ends[1] == to);
        let from = c.ends[1 - end];
        let at = (now + latency).max(c.last_at[end]);
        c.last_at[end] = at;
        let frame = command.to_frame().expect("a command the codec encodes");
        self.sent += 1;
        self.in_flight.insert(
            (at, self.sent),
            InFlight {
                conn,
                from,
                to,
                frame,
            },
        );
        true
    }

    /// Takes the frames due by `now`, in delivery order, decoded.
    pub fn due(&mut self, now: u64) -> Vec<Delivery> {
        let later = self.in_flight.split_off(&(now + 1, 0));
        let due = std::mem::replace(&mut self.in_flight, later);
        due.into_values()
            .map(|f| {
                let (command, used) = decode_frame(&f.frame, MAX_FRAME_BYTES)
                    .expect("a frame the codec encoded decodes")
                    .expect("a whole frame");
                assert_eq!(used, f.frame.len(), "one frame per packet");
                Delivery {
                    conn: f.conn,
                    from: f.from,
                    to: f.to,
                    command,
                }
            })
            .collect()
    }

    /// Breaks `conn`: frames in flight on it are lost. Returns its ends if
    /// it was open.
    pub fn break_conn(&mut self, conn: ConnId) -> Option<[Node; 2]> {
        let c = self.conns.get_mut(&conn).filter(|c| c.open)?;
        c.open = false;
        let ends = c.ends;
        self.in_flight.retain(|_, f| f.conn != conn);
        Some(ends)
    }

    /// Breaks every open connection with `node` at one end (it crashed);
    /// returns them with their ends.
    pub fn break_node(&mut self, node: Node) -> Vec<(ConnId, [Node; 2])> {
        let ids: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.open && c.ends.contains(&node))
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter()
            .filter_map(|id| self.break_conn(id).map(|ends| (id, ends)))
            .collect()
    }

    /// An open connection picked by `rng`, if any.
    pub fn pick_open(&self, rng: &mut SplitMix) -> Option<ConnId> {
        let open: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.open)
            .map(|(id, _)| *id)
            .collect();
        (!open.is_empty()).then(|| open[rng.below(open.len() as u64) as usize])
    }

    /// Frames in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bolide_proto::codes::request_code;

    fn cmd(opaque: i32) -> RemotingCommand {
        RemotingCommand::request(request_code::HEART_BEAT).with_opaque(opaque)
    }

    #[test]
    fn one_connection_delivers_in_order_and_a_break_loses_what_is_in_flight() {
        let mut net = Network::new(50);
        let mut rng = SplitMix(7);
        let a = net.connect(Node::Producer(0), Node::Broker);
        let b = net.connect(Node::Consumer(0), Node::Broker);
        for opaque in 0..20 {
            assert!(net.send(a, Node::Broker, &cmd(opaque), 0, &mut rng));
        }
        assert!(net.send(b, Node::Broker, &cmd(100), 0, &mut rng));
        let on_a: Vec<i32> = net
            .due(50)
            .into_iter()
            .filter(|d| d.conn == a)
            .map(|d| d.command.opaque)
            .collect();
        assert_eq!(on_a, (0..20).collect::<Vec<_>>());
        assert!(net.send(b, Node::Consumer(0), &cmd(1), 60, &mut rng));
        assert_eq!(net.break_conn(b), Some([Node::Consumer(0), Node::Broker]));
        assert!(!net.send(b, Node::Broker, &cmd(2), 60, &mut rng));
        assert!(net.due(1_000).is_empty());
        assert_eq!(net.break_node(Node::Broker).len(), 1);
        assert_eq!(net.pick_open(&mut rng), None);
    }
}
