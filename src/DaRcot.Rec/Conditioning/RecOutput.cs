using static TorchSharp.torch;

namespace DaRcot.Rec.Conditioning;

/// <summary>
/// What a residual-conditioned map returns: the final image and, when requested, the pass-1 image, the residual
/// r = x − y₀ and the embeddings (one per condition point; <see cref="DenseEmbedding"/> is the coarsest, which the
/// contrastive loss and degradation identification use).
/// </summary>
public sealed class RecOutput : IDisposable
{
    /// <summary>The final (pass-2) restored image.</summary>
    public required Tensor Output { get; init; }

    /// <summary>The pass-1 image y₀, when kept.</summary>
    public Tensor? FirstPass { get; init; }

    /// <summary>The residual x − y₀, when kept.</summary>
    public Tensor? Residual { get; init; }

    /// <summary>Embeddings by condition-point name, when kept.</summary>
    public IReadOnlyDictionary<string, Tensor>? Embeddings { get; init; }

    /// <summary>The coarsest ("dense") residual embedding (DA-RCOT's R3).</summary>
    public Tensor? DenseEmbedding { get; init; }

    /// <summary>Disposes every tensor held.</summary>
    public void Dispose()
    {
        Output.Dispose();
        FirstPass?.Dispose();
        Residual?.Dispose();
        DenseEmbedding?.Dispose();
        if (Embeddings is not null)
            foreach (var t in Embeddings.Values)
                if (!ReferenceEquals(t, DenseEmbedding)) t.Dispose();
    }
}

/// <summary>Helpers shared by the <see cref="IRecModel"/> implementations.</summary>
public static class RecModelExtensions
{
    /// <summary>The final image and the dense residual embedding under the
    /// <see cref="DaRcot.Rec.Inference.INamedOutputs"/> keys, for models that implement both interfaces.</summary>
    public static IReadOnlyDictionary<string, Tensor> NamedRecOutputs(this IRecModel model, Tensor x)
    {
        ArgumentNullException.ThrowIfNull(model);
        var rec = model.ForwardRec(x);
        return new Dictionary<string, Tensor>
        {
            [DaRcot.Rec.Inference.INamedOutputs.Final] = rec.Output,
            [DaRcot.Rec.Inference.INamedOutputs.ResidualEmbedding] = rec.DenseEmbedding!,
        };
    }
}

/// <summary>A network that exposes the REC outputs (DA-RCOT and every backbone wrapped by the REC map).</summary>
public interface IRecModel
{
    /// <summary>Runs both passes. With <paramref name="keepIntermediates"/> the pass-1 image, residual and every
    /// embedding are returned too; the dense embedding is always returned.</summary>
    RecOutput ForwardRec(Tensor x, bool keepIntermediates = false);
}
