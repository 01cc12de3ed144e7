using DaRcot.Rec.Training;

namespace DaRcot.Rec.Tests.Training;

public sealed class LossHistoryTests
{
    private static LossHistory Sample()
    {
        var h = new LossHistory();
        for (var i = 1; i <= 20; i++)
            h.Add(new StepLosses
            {
                Step = i, Epoch = 1 + i / 10, Iteration = i % 10, Paired = i % 3 != 0,
                PotentialLoss = -0.01 * i, GradientPenalty = 10.0 / i, TransportLoss = 100.0 / i + 0.1,
                PotentialOfRestored = 0.001 * i, Rms = 0.1 / i, Fourier = 1.0 / 3 * i, Contrastive = i % 3 == 0 ? 0 : 6.0,
                L1 = i % 3 == 0 ? double.NaN : 0.01 * i,
            });
        return h;
    }

    [Fact]
    public void Csv_RoundTripsEveryValueExactly()
    {
        var h = Sample();
        var back = LossHistory.ParseCsv(h.ToCsv());
        Assert.Equal(h.Rows, back.Rows);   // records compare by value (NaN == NaN for double.Equals)
        Assert.StartsWith(LossHistory.Header + "\n", h.ToCsv());
        Assert.Throws<DaRcot.Rec.Errors.DaRcotException>(() => LossHistory.ParseCsv("a,b\n1,2\n"));
    }

    [Fact]
    public void A_term_not_computed_in_a_step_is_an_empty_field_and_old_NaN_files_still_parse()
    {
        var csv = Sample().ToCsv().Split('\n');
        // Step 3 is unpaired: its L1 (last column) was not computed.
        Assert.EndsWith(",", csv[3], StringComparison.Ordinal);
        Assert.DoesNotContain("NaN", string.Join('\n', csv), StringComparison.Ordinal);
        var old = LossHistory.Header + "\n3,1,3,0,-0.03,1,2,3,4,5,0,NaN\n";
        Assert.True(double.IsNaN(LossHistory.ParseCsv(old).Rows[0].L1));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Plot_WritesAPng(bool normalized)
    {
        var path = Path.Combine(Path.GetTempPath(), "darcot-loss-" + Guid.NewGuid().ToString("N") + ".png");
        try
        {
            Sample().WritePlot(path, 400, 300, normalized);
            var bytes = File.ReadAllBytes(path);
            Assert.True(bytes.Length > 1000, $"PNG has only {bytes.Length} bytes");
            Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, bytes.Take(8).ToArray());
        }
        finally
        {
            File.Delete(path);
        }
    }
}
