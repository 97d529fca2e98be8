//! The Apache RocketMQ C++ client (librocketmq 2.1.0 through
//! `rocketmq-client-python` 2.0.0) against `bolide-broker --standalone`.
//! The wrapper offers sync, oneway and orderly sends only (no async, no
//! batch), and its send result has no queue id; those checks are not made.
//! Nor can it subscribe with SQL92 (`subscribe` takes a tag expression
//! only), so `sql92_filter` runs for the Rust client alone.
//! `slave_failover` runs against a SYNC_MASTER and its slave instead: the
//! client's pulls fall back to the slave's address once the route lists no
//! master (`MQClientFactory::findBrokerAddressInSubscribe`, librocketmq
//! 2.1.0 `src/MQClientFactory.cpp:650`, called with `onlyThisBroker = false`
//! by `src/consumer/PullAPIWrapper.cpp:99`).
//! `transactions` drives the wrapper's `TransactionMQProducer` (local
//! transaction and check callbacks) against the broker's check-back.

use bolide_compat::clients::Client;
use bolide_compat::scenarios;

#[test]
fn send_and_receive() {
    scenarios::send_and_receive(Client::Python);
}

#[test]
fn tag_filter() {
    scenarios::tag_filter(Client::Python);
}

#[test]
fn two_consumers_split() {
    scenarios::two_consumers_split(Client::Python);
}

#[test]
fn restart_resumes() {
    scenarios::restart_resumes(Client::Python);
}

#[test]
fn orderly() {
    scenarios::orderly(Client::Python);
}

#[test]
fn consumer_lag() {
    scenarios::consumer_lag(Client::Python);
}

#[test]
fn lookup() {
    scenarios::lookup(Client::Python);
}

#[test]
fn slave_failover() {
    scenarios::slave_failover(Client::Python);
}

#[test]
fn transactions() {
    scenarios::transactions(Client::Python);
}
