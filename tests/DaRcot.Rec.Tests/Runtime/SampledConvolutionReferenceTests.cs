using DaRcot.Rec.Runtime;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Runtime;

/// <summary>
/// The sampled float64 reference the guard trusts, checked against libtorch's float64 convolution and autograd (which
/// never use oneDNN) over the geometries the models use: strides, paddings, dilation, groups, depthwise, even kernels.
/// </summary>
public class SampledConvolutionReferenceTests
{
    public static TheoryData<long, long, long, long, long, long, long, long, long> Geometries() => new()
    {
        // cin, cout, kernel, stride, padding, dilation, groups, height, width
        { 3, 8, 3, 1, 1, 1, 1, 9, 7 },
        { 6, 4, 4, 2, 1, 1, 1, 10, 12 },   // the critic's 4×4 stride-2 convolutions
        { 5, 7, 5, 1, 2, 1, 1, 8, 8 },     // the critic's 5×5 input convolution
        { 8, 8, 3, 1, 2, 2, 1, 11, 9 },    // dilation
        { 12, 12, 3, 1, 1, 1, 12, 6, 6 },  // depthwise (Restormer, NAFNet)
        { 8, 6, 3, 2, 0, 1, 2, 9, 9 },     // grouped, strided, unpadded
        { 4, 16, 1, 1, 0, 1, 1, 5, 5 },    // pointwise
        { 4, 8, 2, 2, 0, 1, 1, 8, 8 },     // NAFNet's 2×2 stride-2 downsampling
    };

    private const int ManySamples = 64;

    [Theory]
    [MemberData(nameof(Geometries))]
    public void Agrees_with_libtorch_in_float64_in_every_direction(long cin, long cout, long k, long s, long p, long d, long groups, long h, long w)
    {
        using var scope = NewDisposeScope();
        var g = new ConvGeometry(s, s, p, p, d, d, groups);
        var x = randn(2, cin, h, w, dtype: float64).requires_grad_();
        var weight = randn(cout, cin / groups, k, k, dtype: float64).requires_grad_();
        var bias = randn(cout, dtype: float64).requires_grad_();
        var y = nn.functional.conv2d(x, weight, bias, [s, s], [p, p], [d, d], groups);
        var gy = randn(y.shape, dtype: float64);
        var grads = TorchSharp.torch.autograd.grad([y], [x, weight, bias], [gy]);
        var rng = new Random(3);

        var forward = SampledConvolutionReference.Forward(x, weight, bias, g, y, rng, ManySamples);
        var input = SampledConvolutionReference.InputGradient(gy, weight, g, grads[0], rng, ManySamples);
        var weights = SampledConvolutionReference.WeightGradient(x, gy, g, grads[1], rng, ManySamples);
        var biases = SampledConvolutionReference.BiasGradient(gy, grads[2]);
        foreach (var c in new[] { forward, input, weights, biases })
        {
            Assert.False(c.NonFinite);
            Assert.True(c.MaxReference > 0);
            Assert.True(c.RelativeError < 1e-12, $"relative error {c.RelativeError}");
        }
        Assert.True(forward.WellConditioned);
    }

    [Fact]
    public void A_one_percent_error_or_a_NaN_is_seen()
    {
        using var scope = NewDisposeScope();
        var g = new ConvGeometry(1, 1, 1, 1, 1, 1, 1);
        var x = randn(1, 20, 16, 16, dtype: float64);
        var weight = randn(24, 20, 3, 3, dtype: float64);
        var y = nn.functional.conv2d(x, weight, padding: [1, 1]);

        var scaled = SampledConvolutionReference.Forward(x, weight, null, g, y.mul(1.01), new Random(1), 8);
        Assert.InRange(scaled.RelativeError, 0.005, 0.02);
        Assert.False(scaled.Within(1e-3));

        var withNaN = y.clone();
        withNaN[0, .., 0, 0] = full(24, double.NaN, dtype: float64); // the first position is always sampled
        var nan = SampledConvolutionReference.Forward(x, weight, null, g, withNaN, new Random(1), 8);
        Assert.True(nan.NonFinite);
        Assert.False(nan.Within(1e-3));
    }

    [Fact]
    public void Zero_weights_are_not_a_conclusive_check_of_the_calls_own_data()
    {
        // A zero-initialised projection gives all-zero outputs: comparing them proves nothing about the kernel, so the
        // guard must fall back to a random probe instead of accepting the key.
        using var scope = NewDisposeScope();
        var x = randn(1, 8, 6, 6);
        var weight = zeros(8, 8, 1, 1);
        var y = nn.functional.conv2d(x, weight);
        var c = SampledConvolutionReference.Forward(x, weight, null, new ConvGeometry(1, 1, 0, 0, 1, 1, 1), y, new Random(1), 8);
        Assert.False(c.WellConditioned);
    }
}
