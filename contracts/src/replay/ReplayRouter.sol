// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import "./ReplayPair.sol";

interface IWrapped {
    function deposit() external payable;
    function withdraw(uint256 wad) external;
    function transfer(address dst, uint256 wad) external returns (bool);
}

interface IERC20From {
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
}

/// A tiny Uniswap-V2-style router over registered ReplayPairs, with UniswapV2Router02's signatures for
/// the native-coin swaps (two-token paths only). Selling tokens for the native coin: the tokens go from
/// the seller to the pair, the pair pays wrapped native to the router, the router unwraps and pays `to`.
contract ReplayRouter {
    address public immutable WETH;
    address public immutable owner;
    mapping(address => mapping(address => address)) public pairFor;

    constructor(address weth) {
        WETH = weth;
        owner = msg.sender;
    }

    receive() external payable {
        require(msg.sender == WETH, "only the wrapper pays the router");
    }

    function addPair(address pair) external {
        require(msg.sender == owner, "not the owner");
        address t0 = ReplayPair(pair).token0();
        address t1 = ReplayPair(pair).token1();
        pairFor[t0][t1] = pair;
        pairFor[t1][t0] = pair;
    }

    function getAmountOut(uint256 amountIn, uint256 reserveIn, uint256 reserveOut) public pure returns (uint256) {
        uint256 inWithFee = amountIn * 997;
        return (inWithFee * reserveOut) / (reserveIn * 1000 + inWithFee);
    }

    function swapExactTokensForETH(
        uint256 amountIn,
        uint256 amountOutMin,
        address[] calldata path,
        address to,
        uint256 deadline
    ) external returns (uint256[] memory amounts) {
        require(block.timestamp <= deadline, "expired");
        require(path.length == 2 && path[1] == WETH, "invalid path");
        address pair = _pair(path[0], path[1]);
        uint256 out = _quote(pair, path[0], amountIn);
        require(out >= amountOutMin, "insufficient output");
        require(IERC20From(path[0]).transferFrom(msg.sender, pair, amountIn), "transferFrom");
        _swap(pair, path[0], out, address(this));
        IWrapped(WETH).withdraw(out);
        (bool ok,) = to.call{value: out}("");
        require(ok, "native transfer failed");
        amounts = new uint256[](2);
        (amounts[0], amounts[1]) = (amountIn, out);
    }

    function swapExactETHForTokens(uint256 amountOutMin, address[] calldata path, address to, uint256 deadline)
        external
        payable
        returns (uint256[] memory amounts)
    {
        require(block.timestamp <= deadline, "expired");
        require(path.length == 2 && path[0] == WETH, "invalid path");
        address pair = _pair(path[0], path[1]);
        uint256 out = _quote(pair, WETH, msg.value);
        require(out >= amountOutMin, "insufficient output");
        IWrapped(WETH).deposit{value: msg.value}();
        require(IWrapped(WETH).transfer(pair, msg.value), "wrapped transfer");
        _swap(pair, WETH, out, to);
        amounts = new uint256[](2);
        (amounts[0], amounts[1]) = (msg.value, out);
    }

    function _pair(address a, address b) private view returns (address pair) {
        pair = pairFor[a][b];
        require(pair != address(0), "no pair");
    }

    function _quote(address pair, address tokenIn, uint256 amountIn) private view returns (uint256) {
        (uint112 r0, uint112 r1,) = ReplayPair(pair).getReserves();
        return tokenIn == ReplayPair(pair).token0() ? getAmountOut(amountIn, r0, r1) : getAmountOut(amountIn, r1, r0);
    }

    function _swap(address pair, address tokenIn, uint256 out, address to) private {
        if (tokenIn == ReplayPair(pair).token0()) {
            ReplayPair(pair).swap(0, out, to);
        } else {
            ReplayPair(pair).swap(out, 0, to);
        }
    }
}
