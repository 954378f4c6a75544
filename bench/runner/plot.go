package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// plots draws the latency distributions of S1 and S3, both gateways and
// both variants of each, and the same served from S3 (S7, S7b; a third
// colour), as percentile plots.
func (rep *report) plots(dir string) error {
	var errs []error
	for _, fig := range []struct {
		file   string
		title  string
		ids    []string
		fromS3 string
	}{
		{"s1-latency.png", "S1: 4 KiB files by path", []string{"S1", "S1o"}, "S7"},
		{"s3-latency.png", "S3: large file", []string{"S3", "S3c"}, "S7b"},
	} {
		var series []curve
		for _, r := range rep.rows {
			for variant, id := range fig.ids {
				if r.sc.ID != id {
					continue
				}
				if r.cand.res != nil {
					series = append(series, curve{"cargate " + r.sc.Title, r.cand.res.Latency, 0, variant})
				}
				if r.ref.res != nil {
					series = append(series, curve{"reference " + r.sc.Title, r.ref.res.Latency, 1, variant})
				}
			}
			if r.sc.ID == fig.fromS3 && r.cand.res != nil {
				series = append(series, curve{"cargate " + r.sc.Title, r.cand.res.Latency, 2, 0})
			}
		}
		if len(series) > 0 {
			errs = append(errs, percentilePlot(filepath.Join(dir, fig.file), fig.title, series))
		}
	}
	return errors.Join(errs...)
}

// curve is one line: colour by gateway, dashes by variant.
type curve struct {
	name    string
	hist    *hdrhistogram.Histogram
	gateway int
	variant int
}

// percentilePlot draws latency against percentile with the percentile axis
// stretched as 1/(1-q), so the tail (99%, 99.9%) gets as much room as the
// median.
func percentilePlot(path, title string, series []curve) error {
	p := plot.New()
	p.Title.Text = title + " — latency by percentile"
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "latency (ms)"
	p.X.Scale = plot.LogScale{}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.X.Tick.Marker = plot.ConstantTicks([]plot.Tick{
		{Value: 1, Label: "0%"}, {Value: 2, Label: "50%"}, {Value: 10, Label: "90%"},
		{Value: 100, Label: "99%"}, {Value: 1000, Label: "99.9%"}, {Value: 10000, Label: "99.99%"},
	})
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	for _, s := range series {
		xys := percentilePoints(s.hist)
		if len(xys) == 0 {
			continue
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return err
		}
		l.Color = plotutil.Color(s.gateway)
		l.Width = vg.Points(1.5)
		if s.variant == 1 {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s (n=%d)", s.name, s.hist.TotalCount()), l)
	}
	p.Legend.ThumbnailWidth = vg.Points(24)
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	return p.Save(8*vg.Inch, 5*vg.Inch, path)
}

// percentilePoints samples the histogram's distribution as (1/(1-q), ms).
func percentilePoints(h *hdrhistogram.Histogram) plotter.XYs {
	if h.TotalCount() == 0 {
		return nil
	}
	var xys plotter.XYs
	for _, q := range quantiles() {
		v := float64(h.ValueAtQuantile(q)) / 1000
		if q == 0 {
			v = float64(h.Min()) / 1000
		}
		xys = append(xys, plotter.XY{X: 1 / (1 - q/100), Y: max(v, 0.001)})
	}
	return xys
}

// quantiles are dense near the tail: 0, 10 ... 90, 91 ... 99, 99.1 ... 99.99.
func quantiles() []float64 {
	var qs []float64
	for q := 0.0; q < 90; q += 10 {
		qs = append(qs, q)
	}
	for step := 1.0; step >= 0.01; step /= 10 {
		base := 100 - 10*step
		for i := range 10 {
			qs = append(qs, base+float64(i)*step)
		}
	}
	return qs
}
