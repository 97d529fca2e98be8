//! The command line of `bolide-admin`: one table of commands with
//! mqadmin's option letters and long names, turned into a clap command
//! (help, per-command help, version, suggestions), and the parsed
//! [`Invocation`] the commands read their options from.

use std::collections::BTreeMap;

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::Failure;

/// One option: mqadmin's letter and long name, the value's name (empty
/// for a flag, read as `true` when given), help.
pub struct Opt(char, &'static str, &'static str, &'static str);

/// One command: name, one-line description, options.
pub struct Spec(&'static str, &'static str, &'static [Opt]);

const TOPIC: Opt = Opt('t', "topic", "TOPIC", "topic name (required)");
const BROKER_ADDR: Opt = Opt('b', "brokerAddr", "HOST:PORT", "one broker");
const CLUSTER: Opt = Opt('c', "clusterName", "CLUSTER", "every broker of a cluster");
const GROUP: Opt = Opt('g', "groupName", "GROUP", "consumer group (required)");
const END_TIMESTAMP: Opt = Opt(
    'e',
    "endTimestamp",
    "MS",
    "only messages stored before (ms since the epoch)",
);

/// Every command, in the order `--help` lists them.
pub const COMMANDS: &[Spec] = &[
    Spec(
        "updateTopic",
        "Create or update a topic on a broker or every master of a cluster",
        &[
            BROKER_ADDR,
            CLUSTER,
            TOPIC,
            Opt('r', "readQueueNums", "N", "read queues (default 8)"),
            Opt('w', "writeQueueNums", "N", "write queues (default 8)"),
            Opt(
                'p',
                "perm",
                "PERM",
                "permission: 2 read, 4 write, 6 both (default 6)",
            ),
            Opt(
                'o',
                "order",
                "BOOL",
                "ordered topic: true or false (default false)",
            ),
        ],
    ),
    Spec(
        "deleteTopic",
        "Delete a topic from a cluster's masters and the NameServers",
        &[TOPIC, CLUSTER],
    ),
    Spec("topicList", "List every topic the NameServer knows", &[]),
    Spec("topicRoute", "Show a topic's brokers and queues", &[TOPIC]),
    Spec(
        "topicStatus",
        "Show each queue's min and max offset and last store time",
        &[TOPIC],
    ),
    Spec(
        "topicClusterList",
        "List the clusters a topic is in",
        &[TOPIC],
    ),
    Spec("clusterList", "List every broker of every cluster", &[]),
    Spec(
        "brokerStatus",
        "Show a broker's runtime statistics",
        &[BROKER_ADDR, CLUSTER],
    ),
    Spec(
        "getBrokerConfig",
        "Show a broker's configuration",
        &[BROKER_ADDR, CLUSTER],
    ),
    Spec(
        "consumerProgress",
        "Show a group's offsets and lag, per queue (every topic of the group without -t)",
        &[GROUP, Opt('t', "topicName", "TOPIC", "only this topic")],
    ),
    Spec(
        "updateSubGroup",
        "Create or update a subscription group",
        &[
            BROKER_ADDR,
            CLUSTER,
            GROUP,
            Opt(
                's',
                "consumeEnable",
                "BOOL",
                "consumption allowed (default true)",
            ),
            Opt(
                'm',
                "consumeFromMinEnable",
                "BOOL",
                "start from the minimum offset (default true)",
            ),
            Opt(
                'd',
                "consumeBroadcastEnable",
                "BOOL",
                "broadcasting allowed (default true)",
            ),
            Opt(
                'o',
                "consumeMessageOrderly",
                "BOOL",
                "orderly consumption (default false)",
            ),
            Opt('q', "retryQueueNums", "N", "retry queues (default 1)"),
            Opt(
                'r',
                "retryMaxTimes",
                "N",
                "retries before the DLQ (default 16)",
            ),
            Opt('i', "brokerId", "ID", "broker to consume from (default 0)"),
            Opt(
                'w',
                "whichBrokerWhenConsumeSlowly",
                "ID",
                "broker when consumption is slow (default 1)",
            ),
            Opt(
                'a',
                "notifyConsumerIdsChanged",
                "BOOL",
                "notify consumers of rebalances (default true)",
            ),
        ],
    ),
    Spec(
        "deleteSubGroup",
        "Delete a subscription group",
        &[BROKER_ADDR, CLUSTER, GROUP],
    ),
    Spec(
        "consumerConnection",
        "Show a consumer group's connections, client versions and subscriptions",
        &[Opt(
            'g',
            "consumerGroup",
            "GROUP",
            "consumer group (required)",
        )],
    ),
    Spec(
        "producerConnection",
        "Show a producer group's connections and client versions",
        &[
            Opt('g', "producerGroup", "GROUP", "producer group (required)"),
            Opt(
                't',
                "topic",
                "TOPIC",
                "a topic the group sends to (required)",
            ),
        ],
    ),
    Spec(
        "resetOffsetByTime",
        "Reset a group's offsets of a topic to a time, consumers running or not",
        &[
            Opt('g', "group", "GROUP", "consumer group (required)"),
            Opt('t', "topic", "TOPIC", "topic (required)"),
            Opt(
                's',
                "timestamp",
                "MS|now",
                "ms since the epoch, or now for each queue's end (required)",
            ),
            Opt(
                'f',
                "force",
                "BOOL",
                "sent as isForce (default true); mqadmin: false only moves offsets back, Bolide's broker resets either way",
            ),
        ],
    ),
    Spec(
        "statsAll",
        "Per topic and consumer group: backlog, in / out TPS and message totals",
        &[
            Opt(
                'a',
                "activeTopic",
                "",
                "only topics and groups with messages",
            ),
            Opt('t', "topic", "TOPIC", "only this topic"),
        ],
    ),
    Spec(
        "sendMessage",
        "Send one message",
        &[
            TOPIC,
            Opt('p', "body", "TEXT", "message body (required)"),
            Opt('k', "keys", "KEYS", "message keys, space-separated"),
            Opt('c', "tags", "TAG", "message tag"),
            Opt(
                'b',
                "broker",
                "BROKER_NAME",
                "broker of the queue (with -i)",
            ),
            Opt('i', "qid", "N", "queue id (with -b)"),
        ],
    ),
    Spec(
        "consumeMessage",
        "Read messages from a topic's queues without committing",
        &[
            TOPIC,
            Opt(
                'b',
                "brokerName",
                "BROKER_NAME",
                "only this broker's queues",
            ),
            Opt('i', "queueId", "N", "only this queue"),
            Opt(
                'o',
                "offset",
                "OFFSET",
                "start offset (needs -b and -i; default the queue's minimum)",
            ),
            Opt(
                'g',
                "consumerGroup",
                "GROUP",
                "group the pulls are made as (default TOOLS_CONSUMER)",
            ),
            Opt(
                's',
                "beginTimestamp",
                "MS",
                "only messages stored at or after (ms since the epoch)",
            ),
            END_TIMESTAMP,
            Opt(
                'c',
                "MessageNumber",
                "N",
                "at most N messages (default 128)",
            ),
        ],
    ),
    Spec(
        "printMsg",
        "Print every message of a topic, queue by queue",
        &[
            TOPIC,
            Opt(
                's',
                "subExpression",
                "EXPR",
                "tag expression: * or TagA || TagB (default *)",
            ),
            Opt(
                'b',
                "beginTimestamp",
                "MS",
                "only messages stored at or after (ms since the epoch)",
            ),
            END_TIMESTAMP,
            Opt('d', "printBody", "BOOL", "print bodies (default true)"),
        ],
    ),
    Spec(
        "queryMsgById",
        "Show a message by the id its producer printed (offset id or unique key)",
        &[
            Opt(
                'i',
                "msgId",
                "MSG_ID",
                "offset message id or UNIQ_KEY (required)",
            ),
            Opt(
                't',
                "topic",
                "TOPIC",
                "topic to search for a unique key (default every topic)",
            ),
        ],
    ),
    Spec(
        "queryMsgByKey",
        "List a topic's messages with a key",
        &[TOPIC, Opt('k', "msgKey", "KEY", "message key (required)")],
    ),
    Spec(
        "queryMsgByUniqueKey",
        "Show a message by its unique key",
        &[
            TOPIC,
            Opt('i', "msgId", "MSG_ID", "the id the producer got (required)"),
        ],
    ),
    Spec(
        "queryMsgByOffset",
        "Show the message at an offset of a queue",
        &[
            TOPIC,
            Opt(
                'b',
                "brokerName",
                "BROKER_NAME",
                "broker of the queue (required)",
            ),
            Opt('i', "queueId", "N", "queue id (required)"),
            Opt('o', "offset", "OFFSET", "queue offset (required)"),
        ],
    ),
];

/// The whole command line.
pub fn command() -> Command {
    let namesrv = Arg::new("namesrvAddr")
        .short('n')
        .long("namesrvAddr")
        .value_name("HOST:PORT[;HOST:PORT]")
        .global(true)
        .help("NameServers (default $NAMESRV_ADDR)");
    let root = Command::new("bolide-admin")
        .version(env!("CARGO_PKG_VERSION"))
        .about("RocketMQ mqadmin's commands for Bolide (and any RocketMQ cluster)")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .arg(namesrv);
    COMMANDS
        .iter()
        .fold(root, |root, spec| root.subcommand(subcommand(spec)))
}

fn subcommand(spec: &Spec) -> Command {
    let Spec(name, about, opts) = *spec;
    let args = opts.iter().map(|&Opt(short, long, value, help)| {
        let arg = Arg::new(long).short(short).long(long).help(help);
        if value.is_empty() {
            arg.action(ArgAction::SetTrue)
        } else {
            arg.value_name(value).action(ArgAction::Set)
        }
    });
    let command = Command::new(name).about(about).args(args);
    match name {
        "statsAll" => command.after_help(crate::stats::COLUMNS_HELP),
        _ => command,
    }
}

/// A parsed command line: the command, the NameServers and the options by
/// their mqadmin letter.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub command: String,
    pub namesrv: String,
    pub options: BTreeMap<char, String>,
}

impl Invocation {
    /// From clap's matches; `-n` falls back to `$NAMESRV_ADDR`.
    pub fn from_matches(matches: &ArgMatches) -> Result<Invocation, String> {
        let (command, sub) = matches.subcommand().ok_or("no command given")?;
        let spec = COMMANDS
            .iter()
            .find(|s| s.0 == command)
            .ok_or_else(|| format!("unknown command {command:?}"))?;
        let options = spec
            .2
            .iter()
            .filter_map(|&Opt(short, long, value, _)| {
                let given = if value.is_empty() {
                    sub.get_flag(long).then(|| "true".to_owned())
                } else {
                    sub.get_one::<String>(long).cloned()
                };
                Some((short, given?))
            })
            .collect();
        let namesrv = sub
            .get_one::<String>("namesrvAddr")
            .cloned()
            .or_else(|| std::env::var("NAMESRV_ADDR").ok())
            .ok_or("no NameServer: pass -n host:port or set NAMESRV_ADDR")?;
        Ok(Invocation {
            command: command.to_owned(),
            namesrv,
            options,
        })
    }

    /// Option `-name`, a usage error when absent.
    pub fn required(&self, name: char, what: &str) -> Result<String, Failure> {
        self.options
            .get(&name)
            .cloned()
            .ok_or_else(|| Failure::Usage(format!("{} needs -{name} {what}", self.command)))
    }

    /// Option `-name` as a number, `default` when absent.
    pub fn number<T: std::str::FromStr>(&self, name: char, default: T) -> Result<T, Failure> {
        match self.options.get(&name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| Failure::Usage(format!("-{name} wants a number, got {v:?}"))),
        }
    }

    /// Option `-name` as a number, a usage error when absent.
    pub fn required_number<T: std::str::FromStr>(
        &self,
        name: char,
        what: &str,
    ) -> Result<T, Failure> {
        let v = self.required(name, what)?;
        v.parse()
            .map_err(|_| Failure::Usage(format!("-{name} wants a number, got {v:?}")))
    }

    /// Option `-name` as `true`/`false`, `default` when absent.
    pub fn boolean(&self, name: char, default: bool) -> Result<bool, Failure> {
        match self.options.get(&name).map(String::as_str) {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(v) => Err(Failure::Usage(format!(
                "-{name} wants true or false, got {v:?}"
            ))),
        }
    }

    /// Option `-name`, if given.
    pub fn get(&self, name: char) -> Option<&str> {
        self.options.get(&name).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn options_are_read_by_letter_and_long_name() {
        let m = command().get_matches_from([
            "bolide-admin",
            "updateTopic",
            "--topic",
            "T",
            "-r",
            "2",
            "--namesrvAddr",
            "localhost:9876",
        ]);
        let inv = Invocation::from_matches(&m).unwrap();
        assert_eq!(inv.command, "updateTopic");
        assert_eq!(inv.namesrv, "localhost:9876");
        assert_eq!(inv.get('t'), Some("T"));
        assert_eq!(inv.number('r', 8).unwrap(), 2);
        assert_eq!(inv.number('w', 8).unwrap(), 8);
        assert!(inv.boolean('o', false).is_ok_and(|o| !o));
    }
}
