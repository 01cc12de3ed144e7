using static TorchSharp.torch;

namespace DaRcot.Rec.Conditioning;

/// <summary>
/// The hook interface a restoration network implements so that the REC wrapper can run it twice, the second
/// time conditioned on residual embeddings. With a <c>null</c> injector the forward pass must be the plain
/// network, bit-identical to the official forward.
/// </summary>
public interface IConditionedBackbone
{
    /// <summary>Where this backbone accepts conditions, coarse to fine or in any fixed order.</summary>
    IReadOnlyList<ConditionPoint> ConditionPoints { get; }

    /// <summary>Input height and width must be multiples of this (the REC wrapper pads to it).</summary>
    int SizeMultiple { get; }

    /// <summary>Channels of the input image (and of the residual the wrapper computes).</summary>
    long InputChannels { get; }

    /// <summary>Restores <paramref name="x"/> (NCHW, H and W multiples of <see cref="SizeMultiple"/>), calling
    /// <paramref name="injector"/> at every condition point when it is given. Returns the final image only.</summary>
    Tensor ForwardConditioned(Tensor x, IConditionInjector? injector);
}

/// <summary>
/// Optional split of a backbone into an encoder that runs once and a decoder that runs once per pass,
/// which is what DA-RCOT does: the second pass only re-runs the decoder. Condition points must all be on the
/// decoder side for the split to be exact.
/// </summary>
public interface ISplitConditionedBackbone : IConditionedBackbone
{
    /// <summary>Runs the part that does not depend on conditions.</summary>
    BackboneFeatures Encode(Tensor x);

    /// <summary>Runs the rest, conditioned through <paramref name="injector"/> when it is given.</summary>
    Tensor Decode(BackboneFeatures features, IConditionInjector? injector);
}

/// <summary>Helpers for <see cref="ISplitConditionedBackbone"/> implementations.</summary>
public static class SplitConditionedBackboneExtensions
{
    /// <summary>The whole conditioned pass as encode + decode, freeing the encoder features on the way; a split
    /// backbone's <see cref="IConditionedBackbone.ForwardConditioned"/> can simply forward here.</summary>
    public static Tensor EncodeThenDecode(this ISplitConditionedBackbone backbone, Tensor x, IConditionInjector? injector)
    {
        ArgumentNullException.ThrowIfNull(backbone);
        using var scope = TorchSharp.torch.NewDisposeScope();
        using var features = backbone.Encode(x);
        return backbone.Decode(features, injector).MoveToOuterDisposeScope();
    }
}

/// <summary>Encoder outputs kept between <see cref="ISplitConditionedBackbone.Encode"/> and the two decodes.</summary>
public sealed class BackboneFeatures : IDisposable
{
    /// <summary>The input the features were computed from (needed for global residuals).</summary>
    public Tensor Input { get; }

    /// <summary>Named intermediate tensors, backbone-specific.</summary>
    public IReadOnlyDictionary<string, Tensor> Tensors { get; }

    /// <summary>Wraps the input and the named features.</summary>
    public BackboneFeatures(Tensor input, IReadOnlyDictionary<string, Tensor> tensors)
    {
        Input = input;
        Tensors = tensors;
    }

    /// <summary>Disposes the feature tensors (not the input, which the caller owns).</summary>
    public void Dispose()
    {
        foreach (var t in Tensors.Values) t.Dispose();
    }
}
