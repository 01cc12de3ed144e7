using DaRcot.Rec.Errors;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Objectives;

/// <summary>Which contrastive objective to use on the dense residual embedding.</summary>
public enum ContrastiveForm
{
    /// <summary>The official element-wise form (spec §4.3): for each pair i&lt;j, mean_k exp(∓zᵢ[k]zⱼ[k]/τ), summed.</summary>
    Official,

    /// <summary>Supervised InfoNCE (SupCon) with positives = same task id, as the paper describes (Eq. 16).</summary>
    InfoNce,
}

/// <summary>
/// Contrastive loss on the dense residual embedding (DA-RCOT's R3), pulling same-task residual embeddings together
/// and pushing different tasks apart. Unweighted: the official trainer multiplies it by 0.1·sigma.
/// </summary>
public sealed class ContrastiveLoss
{
    private static readonly Scalar MinusInfinity = Scalars.Constant(double.NegativeInfinity);

    /// <summary>Temperature τ (official 0.07).</summary>
    public double Temperature { get; init; } = 0.07;

    /// <summary>The form (official by default).</summary>
    public ContrastiveForm Form { get; init; } = ContrastiveForm.Official;

    /// <summary>Computes the loss for <paramref name="embedding"/> [B, ...] with one task id per sample.
    /// With B = 1 (no pairs) the loss is a zero scalar (the official code crashes there).</summary>
    public Tensor Compute(Tensor embedding, IReadOnlyList<long> taskIds)
    {
        ArgumentNullException.ThrowIfNull(embedding);
        ArgumentNullException.ThrowIfNull(taskIds);
        if (embedding.dim() < 2)
            throw new TensorArgumentException(nameof(embedding), $"expected [B, ...], got [{string.Join(",", embedding.shape)}].");
        var b = (int)embedding.shape[0];
        if (taskIds.Count != b)
            throw new TensorArgumentException(nameof(taskIds), $"{taskIds.Count} task ids for a batch of {b}.");

        using var scope = NewDisposeScope();
        // Flatten each sample and L2-normalise it (F.normalize, eps 1e-12).
        var z = nn.functional.normalize(embedding.reshape(b, -1), p: 2.0, dim: 1, eps: 1e-12);
        var loss = Form == ContrastiveForm.Official ? Official(z, taskIds) : InfoNce(z, taskIds);
        return loss.MoveToOuterDisposeScope();
    }

    private Tensor Official(Tensor z, IReadOnlyList<long> ids)
    {
        var b = ids.Count;
        Tensor total = zeros(Array.Empty<long>(), dtype: z.dtype, device: z.device);
        using var temperature = Temperature.ToScalar();
        for (var i = 0; i < b; i++)
        {
            for (var j = i + 1; j < b; j++)
            {
                // Element-wise products, not a dot product: that is what the official code computes.
                var prod = (z[i] * z[j]).div(temperature);
                var term = ids[i] == ids[j] ? (-prod).exp().mean() : prod.exp().mean();
                total = total.Plus(term);
            }
        }
        return total;
    }

    private Tensor InfoNce(Tensor z, IReadOnlyList<long> ids)
    {
        var b = ids.Count;
        var sim = z.matmul(z.t()).DividedBy(Temperature);
        var self = eye(b, dtype: ScalarType.Bool, device: z.device);
        // log-softmax over all others (self excluded).
        var logits = sim.masked_fill(self, MinusInfinity);
        var logProb = logits.log_softmax(1);
        var idT = tensor(ids.ToArray(), device: z.device);
        var positive = idT.unsqueeze(1).eq(idT.unsqueeze(0)).logical_and(self.logical_not());
        var posCount = positive.sum(1);
        var hasPos = posCount.gt(Scalars.Zero);
        if (!hasPos.any().item<bool>()) return zeros(Array.Empty<long>(), dtype: z.dtype, device: z.device);
        var posLog = logProb.masked_fill(positive.logical_not(), Scalars.ZeroReal).sum(1);
        var perAnchor = -posLog / posCount.clamp_min(Scalars.One).to(z.dtype);
        return perAnchor.masked_select(hasPos).mean();
    }
}
