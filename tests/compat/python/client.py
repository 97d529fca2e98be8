"""Drives the Apache RocketMQ C++ client (through `rocketmq-client-python`
2.0.0) for the bolide-compat tests, printing one JSON object per line.

    client.py produce --namesrv A --topic T --group G --count N
        [--mode sync|oneway|orderly] [--tags TagA,TagB] [--prefix P] [--shard-keys K]
      -> {"event":"sent","i":0,"msg_id":...,"queue_offset":...,"status":"OK"} ...
      -> {"event":"done","count":N}
    client.py consume --namesrv A --topic T --group G [--expr '*'] [--orderly]
        [--instance NAME] [--max-run-ms MS] [--consume-delay-ms D] [--max-cache M]
      -> {"event":"started"}, then {"event":"msg",...} per message; stops when
         stdin closes or after MS.
    client.py transact --namesrv A --topic T --group G --plan commit,rollback,unknown
        [--prefix P] [--max-run-ms MS]
      -> {"event":"sent","i":0,"local":"commit",...} per message, {"event":"done"},
         then {"event":"checked","body":...,"answer":"commit"} per check-back;
         stops when stdin closes or after MS.

A transact run sends message i (body P-i, user property plan=plan[i]) with
TransactionMQProducer.send_message_in_transaction; its local transaction
answers COMMIT, ROLLBACK or UNKNOWN as the plan says. The broker's check-back
of an "unknown" message is answered COMMIT, of any other with its plan.

With --consume-delay-ms the consumer runs one consume thread that spends D ms
on each message (after printing it); --max-cache M lets the client hold at
most M unconsumed messages per queue before it pulls that queue again
(librocketmq's SetPushConsumerMaxCacheMessageSize, part of its C API that
the wrapper does not expose, called on the wrapper's consumer handle).

Message i of a run carries body P-i, tag tags[i % len], key P-key-i and the
user properties seq=i, origin=python and, with --shard-keys K,
shard=P-shard-(i % K) (also the sharding key of --mode orderly).

The wrapper has no asynchronous or batch send (so neither has this script),
and its SendResult carries no queue id. Known client defects handled here:
Producer.shutdown() may hang and PushConsumer.shutdown() may crash, so both
run on a daemon thread with a deadline and the process ends with os._exit
after everything it has to say is flushed.
"""

import argparse
import ctypes
import json
import os
import sys
import threading
import time

from rocketmq.client import (ConsumeStatus, Message, Producer, PushConsumer,
                             TransactionMQProducer, TransactionStatus)
from rocketmq.ffi import dll

_out_lock = threading.Lock()

# Properties every received message is asked for (the wrapper cannot list them).
_PROPS = ("seq", "origin", "shard", "plan", "UNIQ_KEY", "KEYS", "TAGS")


def emit(obj):
    line = json.dumps(obj, sort_keys=True)
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def text(value):
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def bounded(action, seconds, what):
    """Runs action on a daemon thread; gives up (reporting it) after seconds."""
    done = threading.Event()

    def run():
        try:
            action()
        except Exception as e:  # reported, not fatal: we are on the way out
            sys.stderr.write("%s failed: %r\n" % (what, e))
        done.set()

    threading.Thread(target=run, daemon=True).start()
    if not done.wait(seconds):
        sys.stderr.write("%s did not finish within %ss\n" % (what, seconds))


def finish(code):
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def produce(args):
    if args.mode not in ("sync", "oneway", "orderly"):
        emit({"event": "error", "error": "mode %s is not offered by rocketmq-client-python" % args.mode})
        finish(3)
    tags = args.tags.split(",")
    producer = Producer(args.group, orderly=(args.mode == "orderly"), timeout=5000)
    producer.set_name_server_address(args.namesrv)
    producer.start()
    for i in range(args.count):
        msg = Message(args.topic)
        msg.set_tags(tags[i % len(tags)])
        msg.set_keys("%s-key-%d" % (args.prefix, i))
        msg.set_body("%s-%d" % (args.prefix, i))
        msg.set_property("seq", str(i))
        msg.set_property("origin", "python")
        shard = ""
        if args.shard_keys > 0:
            shard = "%s-shard-%d" % (args.prefix, i % args.shard_keys)
            msg.set_property("shard", shard)
        if args.mode == "oneway":
            producer.send_oneway(msg)
            emit({"event": "sent", "i": i})
            continue
        if args.mode == "orderly":
            r = producer.send_orderly_with_sharding_key(msg, shard or str(i))
        else:
            r = producer.send_sync(msg)
        emit({"event": "sent", "i": i, "status": r.status.name, "msg_id": r.msg_id, "queue_offset": r.offset})
    emit({"event": "done", "count": args.count})
    bounded(producer.shutdown, 5, "Producer.shutdown")
    finish(0)


_VERDICTS = {
    "commit": TransactionStatus.COMMIT,
    "rollback": TransactionStatus.ROLLBACK,
    "unknown": TransactionStatus.UNKNOWN,
}


def transact(args):
    plan = args.plan.split(",")

    def on_check(m):
        mine = text(m.get_property("plan"))
        answer = "commit" if mine == "unknown" else mine
        emit({"event": "checked", "body": text(m.body), "plan": mine, "answer": answer,
              "msg_id": text(m.id)})
        return _VERDICTS.get(answer, TransactionStatus.UNKNOWN)

    def local_execute(m, _user_args):
        return _VERDICTS[text(m.get_property("plan"))]

    producer = TransactionMQProducer(args.group, on_check, timeout=5000)
    producer.set_name_server_address(args.namesrv)
    producer.start()
    for i, verdict in enumerate(plan):
        msg = Message(args.topic)
        msg.set_tags("TagA")
        msg.set_keys("%s-key-%d" % (args.prefix, i))
        msg.set_body("%s-%d" % (args.prefix, i))
        msg.set_property("seq", str(i))
        msg.set_property("origin", "python")
        msg.set_property("plan", verdict)
        r = producer.send_message_in_transaction(msg, local_execute)
        emit({"event": "sent", "i": i, "status": r.status.name, "msg_id": r.msg_id,
              "queue_offset": r.offset, "local": verdict})
    emit({"event": "done", "count": len(plan)})
    stdin_closed = threading.Event()

    def watch_stdin():
        for _ in sys.stdin:
            pass
        stdin_closed.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    stdin_closed.wait(args.max_run_ms / 1000.0)
    bounded(producer.shutdown, 5, "TransactionMQProducer.shutdown")
    emit({"event": "stopped"})
    finish(0)


def consume(args):
    consumer = PushConsumer(args.group, orderly=args.orderly)
    consumer.set_name_server_address(args.namesrv)
    consumer.set_instance_name(args.instance or "py-consumer-%d" % os.getpid())

    def on_message(m):
        props = {}
        for name in _PROPS:
            value = text(m.get_property(name))
            if value:
                props[name] = value
        emit({
            "event": "msg",
            "msg_id": m.id,
            "topic": m.topic,
            "tags": text(m.tags),
            "keys": text(m.keys),
            "body": text(m.body),
            "queue_id": m.queue_id,
            "queue_offset": m.queue_offset,
            "reconsume_times": m.reconsume_times,
            "props": props,
        })
        if args.consume_delay_ms > 0:
            time.sleep(args.consume_delay_ms / 1000.0)
        return ConsumeStatus.CONSUME_SUCCESS

    if args.consume_delay_ms > 0:
        consumer.set_thread_count(1)
    if args.max_cache > 0:
        set_max_cache = dll.SetPushConsumerMaxCacheMessageSize
        set_max_cache.argtypes = [ctypes.c_void_p, ctypes.c_int]
        set_max_cache.restype = ctypes.c_int
        status = set_max_cache(consumer._handle, args.max_cache)
        if status != 0:
            raise RuntimeError("SetPushConsumerMaxCacheMessageSize returned %d" % status)
    consumer.subscribe(args.topic, on_message, args.expr)
    consumer.start()
    emit({"event": "started", "instance": args.instance})
    stdin_closed = threading.Event()

    def watch_stdin():
        for _ in sys.stdin:
            pass
        stdin_closed.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    stdin_closed.wait(args.max_run_ms / 1000.0)
    # The C++ client commits offsets during shutdown (and every 5 s before).
    bounded(consumer.shutdown, 10, "PushConsumer.shutdown")
    emit({"event": "stopped"})
    finish(0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["produce", "consume", "transact"])
    p.add_argument("--namesrv", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--mode", default="sync")
    p.add_argument("--tags", default="TagA")
    p.add_argument("--prefix", default="m")
    p.add_argument("--shard-keys", type=int, default=0)
    p.add_argument("--expr", default="*")
    p.add_argument("--orderly", action="store_true")
    p.add_argument("--instance", default="")
    p.add_argument("--max-run-ms", type=int, default=120000)
    p.add_argument("--consume-delay-ms", type=int, default=0)
    p.add_argument("--max-cache", type=int, default=0)
    p.add_argument("--plan", default="commit")
    args = p.parse_args()
    try:
        {"produce": produce, "consume": consume, "transact": transact}[args.command](args)
    except Exception as e:
        emit({"event": "error", "error": repr(e)})
        finish(1)


if __name__ == "__main__":
    main()
