//! The nftables part: one `ip` table (default `skiff`) with two base chains of ours,
//! `pod-postrouting` (nat, masquerades traffic from the pod CIDR that leaves through any interface but the
//! bridge) and `pod-forward` (filter, accepts traffic in and out of the bridge).
//!
//! Driven through the `nftables` crate, which renders the JSON schema and runs `nft -j -f -`: each change is one
//! atomic nft transaction. Only our chains are flushed and refilled, so other chains in the same table (the
//! service proxy's, later) are left alone.

use std::borrow::Cow;

use ipnet::Ipv4Net;
use nftables::batch::Batch;
use nftables::expr::{Expression, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix};
use nftables::schema::{Chain, FlushObject, NfCmd, NfListObject, Rule, Table};
use nftables::stmt::{Accept, Match, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};
use tracing::info;

use crate::error::NetError;

/// The masquerade chain.
pub const POSTROUTING_CHAIN: &str = "pod-postrouting";
/// The forward chain.
pub const FORWARD_CHAIN: &str = "pod-forward";

fn table(name: &str) -> Table<'static> {
    Table { family: NfFamily::IP, name: Cow::Owned(name.to_string()), handle: None }
}

fn base_chain(table: &str, name: &'static str, kind: NfChainType, hook: NfHook, prio: i32) -> Chain<'static> {
    Chain {
        family: NfFamily::IP,
        table: Cow::Owned(table.to_string()),
        name: Cow::Borrowed(name),
        _type: Some(kind),
        hook: Some(hook),
        prio: Some(prio),
        policy: Some(NfChainPolicy::Accept),
        ..Chain::default()
    }
}

fn rule(
    table: &str,
    chain: &'static str,
    expr: Vec<Statement<'static>>,
    comment: &'static str,
) -> NfListObject<'static> {
    NfListObject::Rule(Rule {
        family: NfFamily::IP,
        table: Cow::Owned(table.to_string()),
        chain: Cow::Borrowed(chain),
        expr: Cow::Owned(expr),
        comment: Some(Cow::Borrowed(comment)),
        ..Rule::default()
    })
}

fn meta_match(key: MetaKey, op: Operator, value: &str) -> Statement<'static> {
    Statement::Match(Match {
        left: Expression::Named(NamedExpression::Meta(Meta { key })),
        right: Expression::String(Cow::Owned(value.to_string())),
        op,
    })
}

fn saddr_in(cidr: Ipv4Net) -> Statement<'static> {
    Statement::Match(Match {
        left: Expression::Named(NamedExpression::Payload(Payload::PayloadField(PayloadField {
            protocol: Cow::Borrowed("ip"),
            field: Cow::Borrowed("saddr"),
        }))),
        right: Expression::Named(NamedExpression::Prefix(Prefix {
            addr: Box::new(Expression::String(Cow::Owned(cidr.network().to_string()))),
            len: u32::from(cidr.prefix_len()),
        })),
        op: Operator::EQ,
    })
}

/// Installs (or refreshes) the table and our chains and rules, atomically.
pub(crate) async fn install(name: &str, cidr: Ipv4Net, bridge: &str, masquerade: bool) -> Result<(), NetError> {
    let mut batch = Batch::new();
    batch.add(NfListObject::Table(table(name)));
    for (chain, kind, hook, prio) in [
        (POSTROUTING_CHAIN, NfChainType::NAT, NfHook::Postrouting, 100),
        (FORWARD_CHAIN, NfChainType::Filter, NfHook::Forward, 0),
    ] {
        batch.add(NfListObject::Chain(base_chain(name, chain, kind, hook, prio)));
        batch.add_cmd(NfCmd::Flush(FlushObject::Chain(base_chain(name, chain, kind, hook, prio))));
    }
    if masquerade {
        batch.add(rule(
            name,
            POSTROUTING_CHAIN,
            vec![saddr_in(cidr), meta_match(MetaKey::Oifname, Operator::NEQ, bridge), Statement::Masquerade(None)],
            "skiff: pod egress",
        ));
    }
    batch.add(rule(
        name,
        FORWARD_CHAIN,
        vec![meta_match(MetaKey::Iifname, Operator::EQ, bridge), Statement::Accept(Some(Accept {}))],
        "skiff: from pods",
    ));
    batch.add(rule(
        name,
        FORWARD_CHAIN,
        vec![meta_match(MetaKey::Oifname, Operator::EQ, bridge), Statement::Accept(Some(Accept {}))],
        "skiff: to pods",
    ));
    nftables::helper::apply_ruleset_async(&batch.to_nftables())
        .await
        .map_err(|source| NetError::Nft { table: name.to_string(), source })?;
    info!(table = name, %cidr, bridge, masquerade, "installed nftables rules");
    Ok(())
}

/// Deletes the whole table; a missing table is fine (it is added first, then deleted, in one transaction).
pub(crate) async fn delete(name: &str) -> Result<(), NetError> {
    let mut batch = Batch::new();
    batch.add(NfListObject::Table(table(name)));
    batch.delete(NfListObject::Table(table(name)));
    nftables::helper::apply_ruleset_async(&batch.to_nftables())
        .await
        .map_err(|source| NetError::Nft { table: name.to_string(), source })?;
    info!(table = name, "deleted nftables table");
    Ok(())
}
