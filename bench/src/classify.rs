//! `huanxin-bench classify [TEXTS]`: the request classifier (issue 16, part 2). Prints top-1 and
//! top-3 accuracy on the held-out labelled set (never trained on), per category, and five-fold
//! cross-validation on the training set; then classifies TEXTS texts (the held-out ones over and
//! over, default 200,000) on every core and prints texts/s, beside the raw segmenter's rate (jieba
//! cutting the same texts, the nearest plain equivalent) in the same run, and the ratio.

use huanxin_domain::requests::classify::{self, Classifier, HELDOUT_TSV, TRAIN_TSV};
use std::time::Instant;

/// Runs the benchmark (see the module's doc).
pub fn run(texts: usize) -> Result<(), Box<dyn std::error::Error>> {
    let train = classify::parse_examples(TRAIN_TSV)?;
    let heldout = classify::parse_examples(HELDOUT_TSV)?;
    let t = Instant::now();
    let model = Classifier::train(train.iter().map(|(c, t)| (c.as_str(), t.as_str())));
    println!("trained on {} examples in {:.0} ms (the dictionary loaded on first use)", train.len(), t.elapsed().as_secs_f64() * 1000.0);
    let (top1, n) = classify::accuracy(&model, &heldout);
    let top3 = heldout.iter().filter(|(c, t)| model.suggest(t).iter().take(3).any(|s| &s.code == c)).count() as f64 / n.max(1) as f64;
    println!("held-out set: {n} texts, top-1 {:.1} %, top-3 {:.1} %", top1 * 100.0, top3 * 100.0);
    let mut codes: Vec<&str> = heldout.iter().map(|(c, _)| c.as_str()).collect();
    codes.dedup();
    for code in codes {
        let mine: Vec<(String, String)> = heldout.iter().filter(|(c, _)| c == code).cloned().collect();
        let wrong: Vec<String> =
            mine.iter().filter_map(|(_, t)| model.suggest(t).first().filter(|s| s.code != code).map(|s| s.code.clone())).collect();
        let (acc, k) = classify::accuracy(&model, &mine);
        println!(
            "  {code:<24} {:>5.1} % of {k}{}",
            acc * 100.0,
            if wrong.is_empty() { String::new() } else { format!("  (taken for {})", wrong.join(", ")) }
        );
    }
    // Five folds of the training set, each learnt from the other four.
    let mut right = 0.0;
    for fold in 0..5 {
        let learn = train.iter().enumerate().filter(|(i, _)| i % 5 != fold).map(|(_, (c, t))| (c.as_str(), t.as_str()));
        let m = Classifier::train(learn);
        let test: Vec<(String, String)> = train.iter().enumerate().filter(|(i, _)| i % 5 == fold).map(|(_, e)| e.clone()).collect();
        right += classify::accuracy(&m, &test).0 * test.len() as f64;
    }
    println!("five-fold cross-validation on the training set: top-1 {:.1} %", right / train.len() as f64 * 100.0);

    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let pool: Vec<&str> = heldout.iter().map(|(_, t)| t.as_str()).collect();
    let rate = |work: &(dyn Fn(&str) -> usize + Sync)| -> f64 {
        let t = Instant::now();
        std::thread::scope(|s| {
            for k in 0..threads {
                let pool = &pool;
                s.spawn(move || {
                    let mut sink = 0usize;
                    for i in (k..texts).step_by(threads) {
                        sink = sink.wrapping_add(work(pool[i % pool.len()]));
                    }
                    std::hint::black_box(sink);
                });
            }
        });
        texts as f64 / t.elapsed().as_secs_f64()
    };
    let classified = rate(&|t| model.suggest(t).len());
    let jieba = jieba_rs::Jieba::new();
    let raw = rate(&|t| jieba.cut(t, true).len());
    println!(
        "{texts} texts on {threads} threads: classified {classified:.0} texts/s; raw jieba cut {raw:.0} texts/s; ratio {:.2}",
        classified / raw
    );
    Ok(())
}
