//! SVG line charts (latency CDFs, catch-up curves) with `plotters`, without
//! any font or system dependency.

use std::path::Path;

use plotters::prelude::*;

use crate::cluster::Res;

/// One named line.
pub(crate) type Series = (String, Vec<(f64, f64)>);

fn boxed<E: std::fmt::Display>(e: E) -> crate::cluster::BoxError {
    e.to_string().into()
}

/// Draws `series` as lines into the SVG file `path`.
pub(crate) fn lines(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Res<()> {
    let points = series.iter().flat_map(|(_, p)| p.iter());
    let (xmax, ymax) = points.fold((0.0f64, 0.0f64), |(x, y), p| (x.max(p.0), y.max(p.1)));
    let (xmax, ymax) = ((xmax * 1.05).max(1e-6), (ymax * 1.05).max(1e-6));
    let root = SVGBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(boxed)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..xmax, 0f64..ymax)
        .map_err(boxed)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .draw()
        .map_err(boxed)?;
    for (i, (label, pts)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
            .map_err(boxed)?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(boxed)?;
    root.present().map_err(boxed)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_an_svg() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.svg");
        lines(
            &path,
            "t",
            "x",
            "y",
            &[("a".into(), vec![(0.0, 0.0), (1.0, 1.0)])],
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("<svg"));
    }
}
