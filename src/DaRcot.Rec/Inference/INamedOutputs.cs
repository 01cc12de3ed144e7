using static TorchSharp.torch;

namespace DaRcot.Rec.Inference;

/// <summary>
/// A model whose forward pass has several outputs worth saving (MPRNet's three stage images, DA-RCOT's residual
/// embedding). The key <see cref="Final"/> is always the restored image.
/// </summary>
public interface INamedOutputs
{
    /// <summary>Key of the final restored image.</summary>
    public const string Final = "output";

    /// <summary>Key of the dense residual embedding, for models that have one (DA-RCOT and the REC maps).</summary>
    public const string ResidualEmbedding = "residual_embedding";

    /// <summary>Runs the model and returns every named output; the caller disposes them.</summary>
    IReadOnlyDictionary<string, Tensor> ForwardNamed(Tensor x);
}
