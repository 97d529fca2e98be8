//! The README's example: send one message and consume it, against a running
//! Bolide (`cargo run --release -p bolide-broker -- --standalone`).
//!
//! `cargo run -p bolide-client --example quickstart`

use std::time::Duration;

use bolide_client::consumer::{ConsumeStatus, PushConsumer};
use bolide_client::message::Message;
use bolide_client::producer::{BlockingProducer, ProducerConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let producer = BlockingProducer::start(ProducerConfig::new("PG", "127.0.0.1:9876"))?;
    let sent = producer.send(
        Message::new("TopicTest", "hello")
            .with_tags("TagA")
            .with_key("order-1"),
    )?;
    println!(
        "{} at {}:{}",
        sent.msg_id, sent.queue.queue_id, sent.queue_offset
    );

    let consumer = PushConsumer::builder("CG")
        .namesrv("127.0.0.1:9876")
        .subscribe("TopicTest", "TagA || TagB")
        .listener(|msgs| {
            for m in msgs {
                println!("{:?}", m.body);
            }
            ConsumeStatus::Success
        })
        .start()?;
    std::thread::sleep(Duration::from_secs(4));
    consumer.shutdown()?;
    producer.shutdown();
    Ok(())
}
