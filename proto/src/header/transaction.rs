//! Transaction headers, remoting.md §4.8: END_TRANSACTION (37, producer →
//! broker, usually oneway) and CHECK_TRANSACTION_STATE (39, broker →
//! producer, oneway; body = the half message's stored record).

use crate::header::command_header;

/// `commitOrRollback` values (the `MessageSysFlag` transaction types).
pub mod commit_or_rollback {
    /// Not a transaction type / state unknown.
    pub const NOT_TYPE: i32 = 0;
    /// Commit the half message.
    pub const COMMIT: i32 = 0x8;
    /// Roll the half message back.
    pub const ROLLBACK: i32 = 0xC;
}

command_header! {
    pub struct EndTransactionRequestHeader {
        topic: Option<String> = "topic",
        producer_group: String = "producerGroup",
        /// Half message's queue offset.
        tran_state_table_offset: i64 = "tranStateTableOffset",
        /// Half message's commit-log offset.
        commit_log_offset: i64 = "commitLogOffset",
        /// See [`commit_or_rollback`].
        commit_or_rollback: i32 = "commitOrRollback",
        from_transaction_check: Option<bool> = "fromTransactionCheck",
        msg_id: String = "msgId",
        transaction_id: Option<String> = "transactionId",
    }
}

command_header! {
    pub struct CheckTransactionStateRequestHeader {
        topic: Option<String> = "topic",
        tran_state_table_offset: i64 = "tranStateTableOffset",
        commit_log_offset: i64 = "commitLogOffset",
        msg_id: Option<String> = "msgId",
        transaction_id: Option<String> = "transactionId",
        offset_msg_id: Option<String> = "offsetMsgId",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::test_util::assert_round_trip;

    #[test]
    fn round_trips() {
        assert_round_trip(&EndTransactionRequestHeader {
            topic: Some("T".into()),
            producer_group: "PG".into(),
            tran_state_table_offset: 3,
            commit_log_offset: 4096,
            commit_or_rollback: commit_or_rollback::COMMIT,
            from_transaction_check: Some(true),
            msg_id: "M".into(),
            transaction_id: Some("U".into()),
        });
        assert_round_trip(&CheckTransactionStateRequestHeader {
            topic: None,
            tran_state_table_offset: 3,
            commit_log_offset: 4096,
            msg_id: Some("M".into()),
            transaction_id: Some("U".into()),
            offset_msg_id: Some("O".into()),
        });
    }
}
