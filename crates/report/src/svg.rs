//! The flow graph as an inline SVG: a layered layout (columns = layers of the flow graph, rows ordered by the
//! barycenter of each node's senders to limit crossings), boxes per address, Bezier edges labeled with amount,
//! USD and transaction hashes. Loss edges are red, traced edges blue.

use std::collections::BTreeMap;
use std::fmt::Write;

use chaintrace_analysis::investigate::{FlowGraph, NodeRole};

use crate::fmt::{amount_short, esc, short_addr, short_tx, usd_short};

const NODE_W: f64 = 200.0;
const NODE_H: f64 = 46.0;
const COL_GAP: f64 = 130.0;
const ROW_GAP: f64 = 26.0;
const MARGIN: f64 = 24.0;
const TOP: f64 = 78.0;

/// Color of loss edges (victim to exploiter).
pub const LOSS_EDGE: &str = "#c62828";
/// Color of traced edges.
pub const FLOW_EDGE: &str = "#1565c0";

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
    }
}

/// Node positions (top-left corners), by node index, plus the drawing size.
pub fn layout(flow: &FlowGraph) -> (Vec<(f64, f64)>, f64, f64) {
    let mut layers: Vec<u32> = flow.nodes.iter().map(|n| n.layer).collect();
    layers.sort_unstable();
    layers.dedup();
    let col_of = |layer: u32| layers.iter().position(|&l| l == layer).unwrap_or(0);
    let mut cols: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, n) in flow.nodes.iter().enumerate() {
        cols.entry(col_of(n.layer)).or_default().push(i);
    }
    let tallest = cols.values().map(Vec::len).max().unwrap_or(1).max(1);
    let height = TOP + tallest as f64 * (NODE_H + ROW_GAP) + MARGIN;
    let width = 2.0 * MARGIN + cols.len().max(1) as f64 * (NODE_W + COL_GAP) - COL_GAP;
    let mut pos = vec![(0.0, 0.0); flow.nodes.len()];
    let place = |pos: &mut Vec<(f64, f64)>, c: usize, order: &[usize]| {
        let span = order.len() as f64 * (NODE_H + ROW_GAP) - ROW_GAP;
        let y0 = TOP + ((height - TOP - MARGIN) - span).max(0.0) / 2.0;
        for (r, &i) in order.iter().enumerate() {
            pos[i] = (MARGIN + c as f64 * (NODE_W + COL_GAP), y0 + r as f64 * (NODE_H + ROW_GAP));
        }
    };
    for (&c, members) in &cols {
        let mut order = members.clone();
        if c > 0 {
            // Barycenter of senders already placed (in earlier columns).
            let key = |i: usize| -> f64 {
                let ys: Vec<f64> = flow
                    .edges
                    .iter()
                    .filter(|e| e.to == i && col_of(flow.nodes[e.from].layer) < c)
                    .map(|e| pos[e.from].1)
                    .collect();
                if ys.is_empty() { f64::MAX } else { ys.iter().sum::<f64>() / ys.len() as f64 }
            };
            let keys: Vec<(f64, usize)> = order.iter().map(|&i| (key(i), i)).collect();
            let mut keys = keys;
            keys.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            order = keys.into_iter().map(|(_, i)| i).collect();
        }
        place(&mut pos, c, &order);
    }
    (pos, width.max(640.0), height)
}

/// The SVG element (no XML declaration: meant to be inlined in HTML).
pub fn render(flow: &FlowGraph) -> String {
    let (pos, width, height) = layout(flow);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" id="flow" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="Helvetica, Arial, sans-serif">"#
    );
    let _ = writeln!(
        s,
        r#"<defs><marker id="arrow-loss" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{LOSS_EDGE}"/></marker><marker id="arrow-flow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{FLOW_EDGE}"/></marker></defs>"#
    );
    let _ = writeln!(s, r##"<rect x="0" y="0" width="{width:.0}" height="{height:.0}" fill="#ffffff"/>"##);
    legend(&mut s);
    // Column headers.
    let mut headers: BTreeMap<i64, &str> = BTreeMap::new();
    for (i, n) in flow.nodes.iter().enumerate() {
        let x = pos[i].0 as i64;
        let h = match &n.role {
            NodeRole::Victim => "victims",
            NodeRole::Exploiter => "exploiters",
            NodeRole::Exit(_) | NodeRole::Holding => "exits / end points",
            NodeRole::Intermediate => "intermediate",
        };
        headers.entry(x).and_modify(|cur| if rank(h) < rank(cur) { *cur = h }).or_insert(h);
    }
    for (x, h) in &headers {
        let _ = writeln!(
            s,
            r##"<text x="{:.0}" y="{:.0}" font-size="12" font-weight="bold" fill="#455a64" text-anchor="middle">{}</text>"##,
            *x as f64 + NODE_W / 2.0,
            TOP - 12.0,
            h
        );
    }
    // Edges under nodes.
    for e in &flow.edges {
        let (fx, fy) = pos[e.from];
        let (tx, ty) = pos[e.to];
        let (x1, y1) = (fx + NODE_W, fy + NODE_H / 2.0);
        let (x2, y2) = (tx, ty + NODE_H / 2.0);
        let bend = ((x2 - x1).abs() / 2.0).max(60.0);
        let (c1x, c2x) = (x1 + bend, x2 - bend);
        let color = if e.is_loss { LOSS_EDGE } else { FLOW_EDGE };
        let marker = if e.is_loss { "arrow-loss" } else { "arrow-flow" };
        let w = match e.value.usd {
            Some(u) if u > 0.0 => (1.2 + (u + 1.0).log10() * 0.6).min(7.0),
            _ => 1.5,
        };
        let txs: Vec<String> = e.tx_hashes.iter().map(|h| h.to_hex()).collect();
        let title = format!(
            "{} ({})\n{} -> {}\n{} transfer(s): {}",
            amount_short(&e.value),
            usd_short(e.value.usd),
            flow.nodes[e.from].address.display_for(flow.nodes[e.from].chain),
            flow.nodes[e.to].address.display_for(flow.nodes[e.to].chain),
            e.tx_hashes.len(),
            txs.join(", ")
        );
        let _ = writeln!(
            s,
            r#"<path class="edge" d="M{x1:.1},{y1:.1} C{c1x:.1},{y1:.1} {c2x:.1},{y2:.1} {x2:.1},{y2:.1}" fill="none" stroke="{color}" stroke-opacity="0.75" stroke-width="{w:.1}" marker-end="url(#{marker})"><title>{}</title></path>"#,
            esc(&title)
        );
        let mx = (x1 + 3.0 * c1x + 3.0 * c2x + x2) / 8.0;
        let my = (y1 + 3.0 * y1 + 3.0 * y2 + y2) / 8.0;
        let tx_text = match e.tx_hashes.as_slice() {
            [] => String::new(),
            [one] => format!("tx {}", short_tx(*one)),
            [first, rest @ ..] => format!("tx {} +{}", short_tx(*first), rest.len()),
        };
        let _ = writeln!(
            s,
            r##"<text x="{mx:.1}" y="{:.1}" font-size="10" text-anchor="middle" fill="{color}" stroke="#ffffff" stroke-width="3" paint-order="stroke"><tspan x="{mx:.1}">{} · {}</tspan><tspan x="{mx:.1}" dy="11" fill="#37474f">{}</tspan></text>"##,
            my - 4.0,
            esc(&amount_short(&e.value)),
            esc(&usd_short(e.value.usd)),
            esc(&tx_text)
        );
    }
    for (i, n) in flow.nodes.iter().enumerate() {
        let (x, y) = pos[i];
        let (fill, stroke) = colors(&n.role);
        let text_fill = if matches!(&n.role, NodeRole::Exit(c) if c == "sanctioned") { "#ffffff" } else { "#212121" };
        let head = n.label.clone().unwrap_or_else(|| match &n.role {
            NodeRole::Exit(c) => format!("{c} (unnamed)"),
            r => r.name().to_string(),
        });
        let head = truncate(&head, 30);
        let title = format!(
            "{} on {}\n{}{}",
            n.address.display_for(n.chain),
            n.chain,
            n.role.name(),
            n.label.as_ref().map(|l| format!(": {l}")).unwrap_or_default()
        );
        let _ = writeln!(
            s,
            r#"<g class="node {role}"><title>{title}</title><rect x="{x:.1}" y="{y:.1}" width="{NODE_W}" height="{NODE_H}" rx="6" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/><text x="{:.1}" y="{:.1}" font-size="11.5" font-weight="bold" fill="{text_fill}">{}</text><text x="{:.1}" y="{:.1}" font-size="10.5" fill="{text_fill}" font-family="Menlo, Consolas, monospace">{} · {}</text></g>"#,
            x + 8.0,
            y + 18.0,
            esc(&head),
            x + 8.0,
            y + 36.0,
            esc(&short_addr(n.chain, n.address)),
            n.chain,
            role = n.role.name(),
            title = esc(&title),
        );
    }
    if flow.nodes.is_empty() {
        let _ = writeln!(s, r##"<text x="24" y="{:.0}" font-size="14" fill="#455a64">No flow to draw.</text>"##, TOP + 20.0);
    }
    s.push_str("</svg>\n");
    s
}

fn legend(s: &mut String) {
    let items: [(&str, &str, &str); 7] = [
        ("victim", "#ffcdd2", "#c62828"),
        ("exploiter", "#ffe0b2", "#ef6c00"),
        ("intermediate", "#eceff1", "#607d8b"),
        ("exchange", "#bbdefb", "#0d47a1"),
        ("mixer", "#e1bee7", "#6a1b9a"),
        ("bridge / other exit", "#b2dfdb", "#00695c"),
        ("funds resting", "#c8e6c9", "#2e7d32"),
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

fn rank(h: &str) -> u8 {
    match h {
        "victims" => 0,
        "exploiters" => 1,
        "exits / end points" => 3,
        _ => 2,
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { format!("{}…", s.chars().take(n - 1).collect::<String>()) }
}
