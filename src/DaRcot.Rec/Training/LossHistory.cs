using System.Globalization;
using System.Text;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Errors;

namespace DaRcot.Rec.Training;

/// <summary>
/// The per-step loss record of a training run: written as CSV (one row per step) and plotted as a PNG with the
/// transport and potential losses over the steps (the curves of the paper's Figure 10).
/// </summary>
public sealed class LossHistory
{
    /// <summary>CSV header, in column order.</summary>
    public const string Header = "step,epoch,iteration,paired,potential_loss,gradient_penalty,transport_loss,potential_restored,rms,fourier,contrastive,l1";

    private readonly List<StepLosses> rows = new();

    /// <summary>The recorded steps, oldest first.</summary>
    public IReadOnlyList<StepLosses> Rows => rows;

    /// <summary>Appends one step.</summary>
    public void Add(StepLosses losses) => rows.Add(losses ?? throw new ArgumentNullException(nameof(losses)));

    /// <summary>Drops every row after <paramref name="step"/> (used on resume).</summary>
    public void TruncateAfter(long step) => rows.RemoveAll(r => r.Step > step);

    /// <summary>The whole history as CSV text (invariant culture, round-trip doubles).</summary>
    public string ToCsv()
    {
        var sb = new StringBuilder();
        sb.Append(Header).Append('\n');
        foreach (var r in rows)
        {
            sb.Append(string.Join(",",
                r.Step.ToString(CultureInfo.InvariantCulture), r.Epoch.ToString(CultureInfo.InvariantCulture),
                r.Iteration.ToString(CultureInfo.InvariantCulture), r.Paired ? "1" : "0",
                F(r.PotentialLoss), F(r.GradientPenalty), F(r.TransportLoss), F(r.PotentialOfRestored),
                F(r.Rms), F(r.Fourier), F(r.Contrastive), F(r.L1))).Append('\n');
        }
        return sb.ToString();

        // A term that was not computed in a step (e.g. the paired L1 of an unpaired step) is an empty field, which
        // spreadsheets and pandas read as missing; "NaN" would look like a failed computation.
        static string F(double v) => double.IsNaN(v) ? "" : v.ToString("R", CultureInfo.InvariantCulture);
    }

    /// <summary>Parses CSV written by <see cref="ToCsv"/>.</summary>
    /// <exception cref="DaRcotException">The text is not a loss-history CSV.</exception>
    public static LossHistory ParseCsv(string csv)
    {
        ArgumentNullException.ThrowIfNull(csv);
        var lines = csv.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length == 0 || lines[0].Trim() != Header)
            throw new DaRcotException("Not a loss-history CSV: the header line differs from '" + Header + "'.");
        var h = new LossHistory();
        for (var i = 1; i < lines.Length; i++)
        {
            var c = lines[i].Trim().Split(',');
            if (c.Length != 12) throw new DaRcotException($"Loss-history CSV line {i + 1} has {c.Length} columns, expected 12.");
            h.Add(new StepLosses
            {
                Step = long.Parse(c[0], CultureInfo.InvariantCulture),
                Epoch = int.Parse(c[1], CultureInfo.InvariantCulture),
                Iteration = int.Parse(c[2], CultureInfo.InvariantCulture),
                Paired = c[3] == "1",
                PotentialLoss = D(c[4]), GradientPenalty = D(c[5]), TransportLoss = D(c[6]), PotentialOfRestored = D(c[7]),
                Rms = D(c[8]), Fourier = D(c[9]), Contrastive = D(c[10]), L1 = D(c[11]),
            });
        }
        return h;

        // Empty = not computed (older files wrote "NaN", which parses too).
        static double D(string s) => s.Length == 0 ? double.NaN : double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture);
    }

    // Min–max to [0, 1]; a constant curve maps to 0.
    private static double[] Normalize(double[] v)
    {
        if (v.Length == 0) return v;
        var min = v.Min();
        var range = v.Max() - min;
        return v.Select(x => range > 0 ? (x - min) / range : 0.0).ToArray();
    }

    /// <summary>Writes the CSV to <paramref name="path"/> (temp file + rename).</summary>
    public void WriteCsv(string path)
    {
        var bytes = new UTF8Encoding(false).GetBytes(ToCsv());
        AtomicFile.Write(path, s => s.Write(bytes, 0, bytes.Length));
    }

    /// <summary>
    /// Plots the transport loss and the potential loss against the step and saves a PNG.
    /// </summary>
    /// <param name="path">The PNG file (written atomically).</param>
    /// <param name="width">Width in pixels.</param>
    /// <param name="height">Height in pixels.</param>
    /// <param name="normalized">false: raw values, transport on the left axis and potential on the right (the paired
    /// L1 term, ×10⁴, puts them orders of magnitude apart). true: the paper's Figure 10 presentation, one axis, the
    /// transport curve min–max normalised to [0, 1] and the potential curve normalised to [0, 1] and negated.</param>
    public void WritePlot(string path, int width = 900, int height = 500, bool normalized = false)
    {
        var steps = rows.Select(r => (double)r.Step).ToArray();
        var plot = new ScottPlot.Plot();
        var transportValues = rows.Select(r => r.TransportLoss).ToArray();
        var finitePotential = rows.Where(r => double.IsFinite(r.PotentialLoss)).ToArray();
        var potentialSteps = finitePotential.Select(r => (double)r.Step).ToArray();
        var potentialValues = finitePotential.Select(r => r.PotentialLoss).ToArray();
        if (normalized)
        {
            transportValues = Normalize(transportValues);
            potentialValues = Normalize(potentialValues).Select(v => -v).ToArray();
        }
        var transport = plot.Add.Scatter(steps, transportValues);
        transport.LegendText = normalized ? "transport map (normalised)" : "transport loss L_T";
        transport.MarkerSize = 0;
        if (potentialValues.Length > 0)
        {
            var potential = plot.Add.Scatter(potentialSteps, potentialValues);
            potential.LegendText = normalized ? "potential (normalised, negated)" : "potential loss L_phi";
            potential.MarkerSize = 0;
            if (!normalized)
            {
                potential.Axes.YAxis = plot.Axes.Right;
                plot.Axes.Right.Label.Text = "potential loss";
            }
        }
        plot.Title(normalized ? "DA-RCOT training cost curves (normalised)" : "DA-RCOT training losses");
        plot.XLabel("step");
        // Steps are whole numbers: no 2.5-step ticks on short runs.
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        plot.YLabel(normalized ? "normalised cost" : "transport loss");
        plot.ShowLegend();
        var png = plot.GetImageBytes(width, height, ScottPlot.ImageFormat.Png);
        AtomicFile.Write(path, s => s.Write(png, 0, png.Length));
    }
}
