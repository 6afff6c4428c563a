//! The flow graph as an inline SVG: a layered layout (columns = layers of the flow graph, rows ordered by the
//! barycenter of each node's senders to limit crossings), boxes per address, Bezier edges labeled with amount,
//! USD and transaction hashes. Loss edges are red, traced edges blue.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use chaintrace_analysis::investigate::{FlowGraph, NodeRole};

use crate::fmt::{amount_short, esc, short_addr, usd_short};

const NODE_W: f64 = 200.0;
const NODE_H: f64 = 46.0;
const COL_GAP: f64 = 150.0;
const ROW_GAP: f64 = 26.0;
const MARGIN: f64 = 24.0;
const TOP: f64 = 78.0;

/// Color of loss edges (victim to exploiter).
pub const LOSS_EDGE: &str = "#c62828";
/// Color of traced edges.
pub const FLOW_EDGE: &str = "#1565c0";
/// Color of the edges into and out of a conversion (swap, bridge) node.
pub const CONVERSION_EDGE: &str = "#8e24aa";

fn colors(role: &NodeRole) -> (&'static str, &'static str) {
    match role {
        NodeRole::Victim => ("#ffcdd2", "#c62828"),
        NodeRole::Exploiter => ("#ffe0b2", "#ef6c00"),
        NodeRole::Intermediate => ("#eceff1", "#607d8b"),
        NodeRole::Holding => ("#c8e6c9", "#2e7d32"),
        NodeRole::Exit(c) => match c.as_str() {
            "mixer" => ("#e1bee7", "#6a1b9a"),
            "bridge" => ("#b2dfdb", "#00695c"),
            "sanctioned" => ("#212121", "#000000"),
            "exchange" => ("#bbdefb", "#0d47a1"),
            _ => ("#fff9c4", "#f9a825"),
        },
        NodeRole::Conversion(k) if k == "bridge" => ("#e0f2f1", "#8e24aa"),
        NodeRole::Conversion(_) => ("#f3e5f5", "#8e24aa"),
    }
}

/// What is drawn: single addresses, or runs of pass-through hops collapsed into one box.
#[derive(Debug, Clone)]
struct DrawNode {
    /// Flow-graph node indices (one, or a run of pass-through intermediates in order).
    members: Vec<usize>,
    column: usize,
}

#[derive(Debug, Clone)]
struct DrawEdge {
    from: usize,
    to: usize,
    /// Flow-graph edge indices.
    edges: Vec<usize>,
    is_loss: bool,
}

/// Collapses runs of two or more intermediate nodes that each have one sender and one receiver (peel
/// chains) into one box, and assigns columns: victims, exploiters, then distance, end points last.
fn plan(flow: &FlowGraph) -> (Vec<DrawNode>, Vec<DrawEdge>) {
    let n = flow.nodes.len();
    let mut succ: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    let mut pred: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    for e in &flow.edges {
        if e.from != e.to {
            succ[e.from].insert(e.to);
            pred[e.to].insert(e.from);
        }
    }
    let pass =
        |i: usize| flow.nodes[i].role == NodeRole::Intermediate && succ[i].len() == 1 && pred[i].len() == 1;
    let mut owner: Vec<Option<usize>> = vec![None; n];
    let mut nodes: Vec<DrawNode> = Vec::new();
    for (i, senders) in pred.iter().enumerate() {
        let starts_run = pass(i) && senders.iter().all(|&p| !pass(p));
        if !starts_run {
            continue;
        }
        let mut run = vec![i];
        let mut at = i;
        while let Some(&next) = succ[at].iter().next() {
            if !pass(next) || run.contains(&next) {
                break;
            }
            run.push(next);
            at = next;
        }
        if run.len() >= 2 {
            for &m in &run {
                owner[m] = Some(nodes.len());
            }
            nodes.push(DrawNode {
                members: run,
                column: 0,
            });
        }
    }
    for (i, slot) in owner.iter_mut().enumerate() {
        if slot.is_none() {
            *slot = Some(nodes.len());
            nodes.push(DrawNode {
                members: vec![i],
                column: 0,
            });
        }
    }
    let own = |i: usize| owner[i].unwrap_or(0);
    let mut edges: BTreeMap<(usize, usize), DrawEdge> = BTreeMap::new();
    for (k, e) in flow.edges.iter().enumerate() {
        let (f, t) = (own(e.from), own(e.to));
        if f == t {
            continue;
        }
        let d = edges.entry((f, t)).or_insert(DrawEdge {
            from: f,
            to: t,
            edges: Vec::new(),
            is_loss: e.is_loss,
        });
        d.edges.push(k);
        d.is_loss &= e.is_loss;
    }
    let edges: Vec<DrawEdge> = edges.into_values().collect();
    // Columns: shortest distance from the victims (0) and exploiters (1).
    let mut col: Vec<usize> = nodes
        .iter()
        .map(|d| match flow.nodes[d.members[0]].role {
            NodeRole::Victim => 0,
            NodeRole::Exploiter => 1,
            _ => usize::MAX,
        })
        .collect();
    for _ in 0..nodes.len() {
        let mut changed = false;
        for e in &edges {
            if col[e.from] != usize::MAX && col[e.from] + 1 < col[e.to] && col[e.to] > 1 {
                col[e.to] = col[e.from] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let senders: BTreeSet<usize> = edges.iter().map(|e| e.from).collect();
    let is_end = |i: usize, d: &DrawNode| {
        let role = &flow.nodes[d.members[0]].role;
        matches!(role, NodeRole::Exit(_)) || (*role == NodeRole::Holding && !senders.contains(&i))
    };
    let inner_max = (0..nodes.len())
        .filter(|&i| !is_end(i, &nodes[i]) && col[i] != usize::MAX)
        .map(|i| col[i])
        .max()
        .unwrap_or(1)
        .max(1);
    for i in 0..nodes.len() {
        let c = if col[i] == usize::MAX { inner_max } else { col[i] };
        nodes[i].column = if is_end(i, &nodes[i]) && c > 1 {
            inner_max + 1
        } else {
            c
        };
    }
    (nodes, edges)
}

/// Box positions (top-left corners) per drawn node, plus the drawing size.
fn layout(flow: &FlowGraph, nodes: &[DrawNode], edges: &[DrawEdge]) -> (Vec<(f64, f64)>, f64, f64) {
    let mut cols: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, d) in nodes.iter().enumerate() {
        cols.entry(d.column).or_default().push(i);
    }
    let tallest = cols.values().map(Vec::len).max().unwrap_or(1).max(1);
    let height = TOP + tallest as f64 * (NODE_H + ROW_GAP) + MARGIN;
    let ncols = cols.keys().next_back().map(|c| c + 1).unwrap_or(1);
    let width = 2.0 * MARGIN + ncols as f64 * (NODE_W + COL_GAP) - COL_GAP;
    let mut pos = vec![(0.0, 0.0); nodes.len()];
    for (&c, members) in &cols {
        let mut order = members.clone();
        if c > 0 {
            // Barycenter of senders already placed (in earlier columns); unplaced ones keep their order.
            let key = |i: usize| -> f64 {
                let ys: Vec<f64> = edges
                    .iter()
                    .filter(|e| e.to == i && nodes[e.from].column < c)
                    .map(|e| pos[e.from].1)
                    .collect();
                if ys.is_empty() {
                    f64::MAX
                } else {
                    ys.iter().sum::<f64>() / ys.len() as f64
                }
            };
            let mut keys: Vec<(f64, usize)> = order.iter().map(|&i| (key(i), i)).collect();
            keys.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            order = keys.into_iter().map(|(_, i)| i).collect();
        }
        let span = order.len() as f64 * (NODE_H + ROW_GAP) - ROW_GAP;
        let y0 = TOP + ((height - TOP - MARGIN) - span).max(0.0) / 2.0;
        for (r, &i) in order.iter().enumerate() {
            pos[i] = (
                MARGIN + c as f64 * (NODE_W + COL_GAP),
                y0 + r as f64 * (NODE_H + ROW_GAP),
            );
        }
    }
    let _ = flow;
    (pos, width.max(640.0), height)
}

/// The SVG element (no XML declaration: meant to be inlined in HTML).
pub fn render(flow: &FlowGraph) -> String {
    let (nodes, edges) = plan(flow);
    let (pos, width, height) = layout(flow, &nodes, &edges);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" id="flow" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="Helvetica, Arial, sans-serif">"#
    );
    let _ = writeln!(
        s,
        r#"<defs><marker id="arrow-loss" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{LOSS_EDGE}"/></marker><marker id="arrow-flow" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{FLOW_EDGE}"/></marker><marker id="arrow-conv" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{CONVERSION_EDGE}"/></marker></defs>"#
    );
    let _ = writeln!(
        s,
        r##"<rect x="0" y="0" width="{width:.0}" height="{height:.0}" fill="#ffffff"/>"##
    );
    legend(&mut s);
    let last = nodes.iter().map(|d| d.column).max().unwrap_or(0);
    let columns: BTreeSet<usize> = nodes.iter().map(|d| d.column).collect();
    for c in columns {
        let h = match c {
            0 => "victims".to_string(),
            1 => "exploiters".to_string(),
            c if c == last => "exits / end points".to_string(),
            c => format!("hop {}", c - 1),
        };
        let _ = writeln!(
            s,
            r##"<text x="{:.0}" y="{:.0}" font-size="12" font-weight="bold" fill="#455a64" text-anchor="middle">{h}</text>"##,
            MARGIN + c as f64 * (NODE_W + COL_GAP) + NODE_W / 2.0,
            TOP - 14.0
        );
    }
    // Edges under nodes, labels above everything.
    let mut labels = String::new();
    for d in &edges {
        let (fx, fy) = pos[d.from];
        let (tx, ty) = pos[d.to];
        let (x1, y1) = (fx + NODE_W, fy + NODE_H / 2.0);
        let (x2, y2) = (tx, ty + NODE_H / 2.0);
        let bend = ((x2 - x1).abs() / 2.0).max(60.0);
        let (c1x, c2x) = (x1 + bend, x2 - bend);
        let from_node = &flow.nodes[nodes[d.from].members[nodes[d.from].members.len() - 1]];
        let to_node = &flow.nodes[nodes[d.to].members[0]];
        let is_conv = matches!(from_node.role, NodeRole::Conversion(_))
            || matches!(to_node.role, NodeRole::Conversion(_));
        let (color, marker) = if d.is_loss {
            (LOSS_EDGE, "arrow-loss")
        } else if is_conv {
            (CONVERSION_EDGE, "arrow-conv")
        } else {
            (FLOW_EDGE, "arrow-flow")
        };
        let parts: Vec<&chaintrace_analysis::investigate::FlowEdge> =
            d.edges.iter().map(|&k| &flow.edges[k]).collect();
        let total_usd: Option<f64> = parts.iter().try_fold(0.0, |a, e| e.value.usd.map(|u| a + u));
        let w = match total_usd {
            Some(u) if u > 0.0 => (1.2 + (u + 1.0).log10() * 0.5).min(6.0),
            _ => 1.5,
        };
        let mut txs: Vec<String> = Vec::new();
        let mut lines: Vec<String> = Vec::new();
        for e in &parts {
            lines.push(format!("{} · {}", amount_short(&e.value), usd_short(e.value.usd)));
            for h in &e.tx_hashes {
                if !txs.contains(&h.to_hex()) {
                    txs.push(h.to_hex());
                }
            }
        }
        let title = format!(
            "{}\n{} -> {}\n{} transaction(s): {}",
            lines.join("\n"),
            from_node.address.display_for(from_node.chain),
            to_node.address.display_for(to_node.chain),
            txs.len(),
            txs.join(", ")
        );
        let _ = writeln!(
            s,
            r#"<path class="edge{}" d="M{x1:.1},{y1:.1} C{c1x:.1},{y1:.1} {c2x:.1},{y2:.1} {:.1},{y2:.1}" fill="none" stroke="{color}" stroke-opacity="0.8" stroke-width="{w:.1}"{} marker-end="url(#{marker})"><title>{}</title></path>"#,
            if is_conv { " conversion" } else { "" },
            x2 - 2.0,
            if is_conv { r#" stroke-dasharray="7,3""# } else { "" },
            esc(&title)
        );
        // Label near the receiver's end, where edges fan out least.
        let lx = x2 - COL_GAP / 2.0;
        let ly = (y1 + 3.0 * y1 + 3.0 * y2 + y2) / 8.0 * 0.35 + y2 * 0.65;
        let tx_text = match txs.as_slice() {
            [] => String::new(),
            [one] => format!("tx {}", crate::fmt::short_hex(one)),
            [first, rest @ ..] => format!("tx {} +{}", crate::fmt::short_hex(first), rest.len()),
        };
        if lines.len() > 3 {
            let extra = lines.len() - 2;
            lines.truncate(2);
            lines.push(format!("+{extra} more assets"));
        }
        if from_node.chain != to_node.chain {
            lines.push(format!("{} \u{2192} {}", from_node.chain, to_node.chain));
        }
        lines.push(tx_text);
        let n = lines.len() as f64;
        let _ = write!(
            labels,
            r##"<text class="edge-label" x="{lx:.1}" y="{:.1}" font-size="10" text-anchor="middle" fill="{color}" stroke="#ffffff" stroke-width="3" paint-order="stroke">"##,
            ly - (n - 1.0) * 5.5 - 3.0
        );
        for (i, l) in lines.iter().enumerate() {
            let fill = if i + 1 == lines.len() { "#37474f" } else { color };
            let dy = if i == 0 { 0.0 } else { 11.0 };
            let _ = write!(
                labels,
                r#"<tspan x="{lx:.1}" dy="{dy}" fill="{fill}">{}</tspan>"#,
                esc(l)
            );
        }
        labels.push_str("</text>\n");
    }
    for (i, d) in nodes.iter().enumerate() {
        let (x, y) = pos[i];
        let first = &flow.nodes[d.members[0]];
        let (fill, stroke) = colors(&first.role);
        let text_fill = if matches!(&first.role, NodeRole::Exit(c) if c == "sanctioned") {
            "#ffffff"
        } else {
            "#212121"
        };
        let (head, sub, title) = if d.members.len() > 1 {
            let last = &flow.nodes[d.members[d.members.len() - 1]];
            let all: Vec<String> = d
                .members
                .iter()
                .map(|&m| flow.nodes[m].address.display_for(flow.nodes[m].chain))
                .collect();
            (
                format!("chain of {} pass-through hops", d.members.len()),
                format!(
                    "{} … {} · {}",
                    short_addr(first.chain, first.address),
                    &short_addr(last.chain, last.address),
                    first.chain
                ),
                format!(
                    "{} addresses on {}, each forwarding to the next:\n{}",
                    d.members.len(),
                    first.chain,
                    all.join("\n")
                ),
            )
        } else if let NodeRole::Conversion(kind) = &first.role {
            let text = first.label.clone().unwrap_or_else(|| kind.clone());
            (
                text.clone(),
                format!("via {} · {}", short_addr(first.chain, first.address), first.chain),
                format!(
                    "{text}\nvia {} on {}",
                    first.address.display_for(first.chain),
                    first.chain
                ),
            )
        } else {
            let head = first.label.clone().unwrap_or_else(|| match &first.role {
                NodeRole::Exit(c) => format!("{c} (unnamed)"),
                r => r.name().to_string(),
            });
            let title = format!(
                "{} on {}\n{}{}",
                first.address.display_for(first.chain),
                first.chain,
                first.role.name(),
                first.label.as_ref().map(|l| format!(": {l}")).unwrap_or_default()
            );
            (
                head,
                format!("{} · {}", short_addr(first.chain, first.address), first.chain),
                title,
            )
        };
        let is_conv = matches!(first.role, NodeRole::Conversion(_));
        let dash = if d.members.len() > 1 {
            r#" stroke-dasharray="5,3""#
        } else if is_conv {
            r#" stroke-dasharray="7,3""#
        } else {
            ""
        };
        let (rx, stroke_w) = if is_conv { (17, 2.5) } else { (6, 1.5) };
        let _ = writeln!(
            s,
            r#"<g class="node {role}"><title>{title}</title><rect x="{x:.1}" y="{y:.1}" width="{NODE_W}" height="{NODE_H}" rx="{rx}" fill="{fill}" stroke="{stroke}" stroke-width="{stroke_w}"{dash}/><text x="{:.1}" y="{:.1}" font-size="11.5" font-weight="bold" fill="{text_fill}">{}</text><text x="{:.1}" y="{:.1}" font-size="10.5" fill="{text_fill}" font-family="Menlo, Consolas, monospace">{}</text></g>"#,
            x + 8.0,
            y + 18.0,
            esc(&truncate(&head, 30)),
            x + 8.0,
            y + 36.0,
            esc(&sub),
            role = first.role.name(),
            title = esc(&title),
        );
    }
    s.push_str(&labels);
    if flow.nodes.is_empty() {
        let _ = writeln!(
            s,
            r##"<text x="24" y="{:.0}" font-size="14" fill="#455a64">No flow to draw.</text>"##,
            TOP + 20.0
        );
    }
    s.push_str("</svg>\n");
    s
}

fn legend(s: &mut String) {
    let items: [(&str, &str, &str); 8] = [
        ("victim", "#ffcdd2", "#c62828"),
        ("exploiter", "#ffe0b2", "#ef6c00"),
        ("intermediate", "#eceff1", "#607d8b"),
        ("exchange", "#bbdefb", "#0d47a1"),
        ("mixer", "#e1bee7", "#6a1b9a"),
        ("bridge / other exit", "#b2dfdb", "#00695c"),
        ("funds resting", "#c8e6c9", "#2e7d32"),
        ("swap / bridge hop", "#f3e5f5", "#8e24aa"),
    ];
    let mut x = MARGIN;
    for (name, fill, stroke) in items {
        let _ = write!(
            s,
            r##"<rect x="{x:.0}" y="14" width="14" height="14" rx="3" fill="{fill}" stroke="{stroke}"/><text x="{:.0}" y="25" font-size="11" fill="#37474f">{name}</text>"##,
            x + 19.0
        );
        x += 27.0 + name.len() as f64 * 6.3;
    }
    let _ = writeln!(
        s,
        r##"<line x1="{x:.0}" y1="21" x2="{:.0}" y2="21" stroke="{LOSS_EDGE}" stroke-width="3"/><text x="{:.0}" y="25" font-size="11" fill="#37474f">theft</text><line x1="{:.0}" y1="21" x2="{:.0}" y2="21" stroke="{FLOW_EDGE}" stroke-width="3"/><text x="{:.0}" y="25" font-size="11" fill="#37474f">traced flow</text>"##,
        x + 24.0,
        x + 29.0,
        x + 70.0,
        x + 94.0,
        x + 99.0
    );
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}
