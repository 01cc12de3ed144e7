using DaRcot.Rec.Imaging;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.PixelFormats;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Data.Degradations;

/// <summary>
/// JPEG compression artefacts: each image is quantised to 8 bit, encoded with ImageSharp's JPEG encoder at a quality
/// drawn per image, and decoded again, all in memory. Not one of the official tasks, so its task id is 7 (other).
/// </summary>
public sealed class JpegCompression : IDegradation
{
    /// <summary>Creates the degradation.</summary>
    /// <param name="quality">JPEG quality range, 1–100 (default 10–40); drawn values are rounded to integers.</param>
    public JpegCompression(ParameterRange? quality = null)
    {
        Quality = quality ?? new ParameterRange(10, 40);
        Quality.Validate(nameof(quality), 1, 100);
    }

    /// <summary>Quality range.</summary>
    public ParameterRange Quality { get; }

    /// <inheritdoc/>
    public string Name => "jpeg";

    /// <inheritdoc/>
    public int TaskId => DegradationRegistry.SingleTaskId;

    /// <inheritdoc/>
    public Tensor Apply(Tensor clean, torch.Generator generator)
    {
        DegradationRandom.CheckImages(clean);
        ArgumentNullException.ThrowIfNull(generator);
        long b = clean.shape[0], c = clean.shape[1];
        if (c is not (1 or 3))
            throw new Errors.TensorArgumentException(nameof(clean), $"JPEG needs 1 or 3 channels, got {c}.");
        var qualities = DegradationRandom.Uniform(generator, (int)b, Quality);
        var outputs = new List<Tensor>((int)b);
        try
        {
            for (int i = 0; i < b; i++)
            {
                using var scope = torch.NewDisposeScope();
                var one = clean.narrow(0, i, 1).to(ScalarType.Float32).cpu();
                var encoder = new JpegEncoder { Quality = (int)Math.Round(qualities[i]) };
                using var stream = new MemoryStream();
                Tensor decoded;
                if (c == 3)
                {
                    using (var img = ImageTensor.ToRgb24(one)) img.Save(stream, encoder);
                    stream.Position = 0;
                    using var back = Image.Load<Rgb24>(stream);
                    decoded = ImageTensor.FromImage(back);
                }
                else
                {
                    using (var img = ImageTensor.ToL8(one)) img.Save(stream, encoder);
                    stream.Position = 0;
                    using var back = Image.Load<L8>(stream);
                    decoded = ImageTensor.FromImage(back);
                }
                outputs.Add(decoded.to(clean.dtype).to(clean.device).MoveToOuterDisposeScope());
            }
            return torch.cat(outputs, 0);
        }
        finally
        {
            foreach (var t in outputs) t.Dispose();
        }
    }
}
